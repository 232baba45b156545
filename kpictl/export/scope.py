"""``kpictl export``: one scope of the database as a range file, checked like any other."""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kpictl import store
from kpictl.db import engine as db
from kpictl.drift.report import DriftedRow, drifted_rows
from kpictl.drift.revisions import latest_recorded
from kpictl.errors import UsageError
from kpictl.export.rangetext import range_file_text
from kpictl.rangefiles.loader import load_range_file
from kpictl.rangefiles.model import KpiRange, Problem, Scoring
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.rangefiles.rules import CUSTOMERS_DIR, DEFAULTS_FILE
from kpictl.settings import Settings
from kpictl.times import iso


@dataclass(slots=True)
class ExportResult:
    """An exported range file and what checking it like any other file found."""

    scope: str | None
    path: Path  # where the file belongs in a ranges dir, e.g. customers/acme.yaml
    text: str
    version: int
    recorded: bool  # False: no revision is recorded, so the version is a placeholder
    problems: list[Problem] = field(default_factory=list)
    drift: list[DriftedRow] = field(default_factory=list)  # stored rows the revision lacks

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _when(value: datetime | None) -> str:
    return iso(value) if value else "at an unknown time"


def export(
    settings: Settings,
    *,
    customer: str | None = None,
    defaults: bool = False,
    ranges_dir: RangeDir | None = None,
) -> ExportResult:
    """The stored ranges and scoring of one scope as range file text (three queries)."""
    if (customer is None) == (not defaults):
        raise UsageError(
            "select what to export: --customer SLUG or --defaults",
            hint="kpictl export --customer acme > ranges/customers/acme.yaml",
        )
    catalog = (ranges_dir or RangeDir(settings.ranges_dir)).catalog_if_present()
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        found = store.get_customer(conn, customer) if customer is not None else None
        cid = found.customer_id if found else None
        rows = store.stored_ranges(conn, [cid])[cid]
        recorded = latest_recorded(conn, [cid]).get(cid)
    ranges = {kpi: KpiRange.from_row(kpi, stored.row) for kpi, stored in rows.items()}
    scoring = Scoring.from_dict(recorded.scoring) if recorded and recorded.scoring else None
    if recorded is not None:
        rev = recorded.revision
        version = rev.version
        comment = (
            f"Exported by kpictl from the database: version {version}, "
            f"applied {_when(rev.applied_at)} by {rev.applied_by}."
        )
    else:
        version = 1
        comment = (
            "Exported by kpictl from the database. No revision is recorded for this scope: "
            "version 1 is a placeholder."
        )
    comment = comment.replace("\n", " ")
    text = range_file_text(
        customer=customer,
        name=found.name if found else None,
        version=version,
        scoring=scoring,
        ranges=ranges,
        catalog_order=list(catalog.kpis) if catalog else (),
        comment=comment,
    )
    path = Path(CUSTOMERS_DIR) / f"{customer}.yaml" if customer else Path(DEFAULTS_FILE)
    _file, problems = load_range_file(
        path, catalog, display=f"(exported) {path}", data=text.encode()
    )
    drift = drifted_rows(customer, recorded.ranges, rows) if recorded else []
    return ExportResult(customer, path, text, version, recorded is not None, problems, drift)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: never a half-written file.

    A device, FIFO or socket (``/dev/stdout``, ``/dev/null``, a pipe) is written in
    place: it is never replaced by a file (which would break the system's /dev/null).
    """
    path = path.expanduser()
    try:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise UsageError(f"cannot write {path}: it is a directory")
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            return
        mode = st.st_mode & 0o777 if st is not None else _default_mode()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise


def _default_mode() -> int:
    """What a plain open() would give a new file: 0o666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
