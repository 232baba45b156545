"""The database as a range file: what ``kpictl export`` prints.

The file is built from what is stored — the scope's rows, the customer's name, and the
latest revision's version and scoring section — and is a valid range file: loading it
gives back exactly those rows (a property test holds this), and after a seed ``diff``
finds nothing between it and the database.

Layout, so that an export reads like the shipped files and diffs well in git:

- keys in the order of the shipped files: apiVersion, customer, name, version,
  scoring, ranges; per KPI critical, risk, healthy, weight (only when not 1),
  playbook (only when set); bands in flow style, ``{min: 956, max: 2000}``;
- KPIs in the order of the catalog (``kpis.yaml`` of the ranges dir), which is the
  order the shipped files use; KPIs the catalog lacks, or every KPI when there is no
  readable catalog, follow in alphabetical order;
- numbers as a person writes them: ``956``, not ``956.0``; ``0.5``; ``52.14``;
- strings plain where YAML reads them back as the same string, double-quoted otherwise.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kpictl import api, store
from kpictl.db import engine as db
from kpictl.drift import DriftedRow, drifted_rows, latest_recorded
from kpictl.errors import UsageError
from kpictl.rangefiles import load_catalog, load_range_file
from kpictl.rangefiles.loader import CATALOG_FILE, CUSTOMERS_DIR, DEFAULTS_FILE
from kpictl.rangefiles.model import (
    API_VERSION,
    BAND_NAMES,
    Band,
    Catalog,
    KpiRange,
    Problem,
    Scoring,
)
from kpictl.settings import Settings
from kpictl.timestamps import iso

_POINTS_ORDER = ("healthy", "risk", "critical")
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_.\- ]*")
# Words that YAML's core schema reads as null or a boolean, not as a string.
_RESERVED = {"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"}


# -- scalars -------------------------------------------------------------------------------


def yaml_number(value: float) -> str:
    """A number as written: 956, -15, 0.5, 52.14, 1e+20 (read back as the same float)."""
    number = float(value)
    if math.isnan(number):
        return ".nan"
    if math.isinf(number):
        return ".inf" if number > 0 else "-.inf"
    if number == 0 and math.copysign(1.0, number) < 0:
        return "-0.0"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def yaml_string(text: str) -> str:
    """A string plain when YAML reads it back unchanged, else double-quoted and escaped."""
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and text not in _RESERVED:
        return text
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F or (
            code >= 0xA0 and code not in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
        ):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:  # pragma: no cover - only surrogates and the like get here
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _flow(pairs: Sequence[tuple[str, float]]) -> str:
    return "{" + ", ".join(f"{k}: {yaml_number(v)}" for k, v in pairs) + "}"


def _band(band: Band) -> str:
    pairs = [(k, v) for k, v in (("min", band.min), ("max", band.max)) if v is not None]
    return _flow(pairs)


# -- the file --------------------------------------------------------------------------------


def kpi_order(names: Sequence[str] | Mapping[str, Any], catalog: Sequence[str] = ()) -> list[str]:
    """The catalog's order first, then the KPIs it lacks alphabetically."""
    present = set(names)
    known = [k for k in catalog if k in present]
    return known + sorted(present - set(known))


def range_file_text(
    *,
    customer: str | None,
    name: str | None,
    version: int,
    scoring: Scoring | None,
    ranges: Mapping[str, KpiRange],
    catalog_order: Sequence[str] = (),
    comment: str | None = None,
) -> str:
    """A range file (defaults when ``customer`` is None) from its parts. Pure."""
    lines: list[str] = []
    if comment:
        lines += [f"# {line}".rstrip() for line in comment.splitlines()]
    lines.append(f"apiVersion: {API_VERSION}")
    if customer is not None:
        lines.append(f"customer: {yaml_string(customer)}")
        lines.append(f"name: {yaml_string(name or customer)}")
    lines.append(f"version: {version}")
    if scoring is not None:
        lines.append("scoring:")
        lines += ["  " + line for line in _scoring_lines(scoring, catalog_order)]
    if not ranges:
        lines.append("ranges: {}")
    else:
        lines.append("ranges:")
        for kpi in kpi_order(ranges, catalog_order):
            lines.append(f"  {yaml_string(kpi)}:")
            lines += ["    " + line for line in _kpi_lines(ranges[kpi])]
    return "\n".join(lines) + "\n"


def _scoring_lines(scoring: Scoring, catalog_order: Sequence[str]) -> list[str]:
    lines = [f"model: {scoring.model}"]
    if scoring.model == "ranges":
        if scoring.points is not None:
            points = [(k, scoring.points[k]) for k in _POINTS_ORDER if k in scoring.points]
            points += [(k, v) for k, v in scoring.points.items() if k not in _POINTS_ORDER]
            lines.append(f"points: {_flow(points)}")
        return lines
    if scoring.intercept is not None:
        lines.append(f"intercept: {yaml_number(scoring.intercept)}")
    if scoring.coefficients:
        lines.append("coefficients:")
        for kpi in kpi_order(scoring.coefficients, catalog_order):
            lines.append(f"  {yaml_string(kpi)}: {yaml_number(scoring.coefficients[kpi])}")
    else:
        lines.append("coefficients: {}")
    if scoring.clamp is not None:
        lines.append(f"clamp: {_flow([('min', scoring.clamp[0]), ('max', scoring.clamp[1])])}")
    return lines


def _kpi_lines(kpi_range: KpiRange) -> list[str]:
    lines = []
    for band_name in BAND_NAMES:
        band = kpi_range.band(band_name)
        if band is not None:
            lines.append(f"{band_name}: {_band(band)}")
    if float(kpi_range.weight) != 1.0:
        lines.append(f"weight: {yaml_number(kpi_range.weight)}")
    if kpi_range.playbook is not None:
        lines.append(f"playbook: {yaml_string(kpi_range.playbook)}")
    return lines


# -- export ----------------------------------------------------------------------------------


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


def _catalog(settings: Settings) -> Catalog | None:
    path = settings.ranges_dir / CATALOG_FILE
    if not path.is_file():
        return None
    catalog, _problems = load_catalog(path, display=str(path))
    return catalog


def _when(value: datetime | None) -> str:
    return iso(value) if value else "at an unknown time"


def export(
    settings: Settings, *, customer: str | None = None, defaults: bool = False
) -> ExportResult:
    """The stored ranges and scoring of one scope as range file text (three queries)."""
    if (customer is None) == (not defaults):
        raise UsageError(
            "select what to export: --customer SLUG or --defaults",
            hint="kpictl export --customer acme > ranges/customers/acme.yaml",
        )
    catalog = _catalog(settings)
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        found = api.get_customer(conn, customer) if customer is not None else None
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
    """Write ``text`` to ``path`` through a temporary file: never a half-written file."""
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else _default_mode()
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
