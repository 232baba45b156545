"""``kpictl export --all --output-dir DIR``: the whole database as a ranges directory.

Every scope becomes a range file — ``defaults.yaml`` and ``customers/<slug>.yaml`` for
every customer, also one without ranges of its own — exactly as ``export`` writes one
scope, plus a ``kpis.yaml`` for the KPIs found: the existing catalog's definitions where
there is one, else inferred from the band order and marked for review. Right after
``kpictl adopt --yes``, ``validate DIR`` and ``--ranges DIR diff --all`` find nothing.

A handful of set-based queries, whatever the number of customers.
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kpictl import store
from kpictl.adopt.catalog import CatalogEntry, build_catalog, catalog_text
from kpictl.db import engine as db
from kpictl.drift import latest_recorded
from kpictl.errors import UsageError
from kpictl.export import range_file_text, write_atomically
from kpictl.rangefiles import load_catalog, load_range_file
from kpictl.rangefiles.model import Catalog, KpiRange, Problem, Scoring
from kpictl.rangefiles.rules import CATALOG_FILE, CUSTOMERS_DIR, DEFAULTS_FILE
from kpictl.settings import Settings
from kpictl.times import iso


@dataclass(frozen=True, slots=True)
class WrittenFile:
    path: Path
    scope: str | None  # None: defaults.yaml (or kpis.yaml, with kind "catalog")
    kind: str  # catalog | defaults | customer
    version: int | None
    recorded: bool  # a revision is recorded for the scope (else version 1 is a placeholder)


@dataclass(slots=True)
class ExportAllResult:
    directory: Path
    files: list[WrittenFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    reviews: list[str] = field(default_factory=list)  # KPIs whose catalog entry was inferred
    left: list[Path] = field(default_factory=list)  # customer files there that no scope wrote

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _existing_catalog(paths: list[Path]) -> Catalog | None:
    for path in paths:
        if path.is_file():
            catalog, _problems = load_catalog(path, display=str(path))
            if catalog is not None:
                return catalog
    return None


def _comment(version: int, applied_at: datetime | None, applied_by: str | None) -> str:
    if applied_by is None:
        return (
            "Exported by kpictl from the database. No revision is recorded for this scope: "
            "version 1 is a placeholder."
        )
    when = iso(applied_at) if applied_at else "at an unknown time"
    return (
        f"Exported by kpictl from the database: version {version}, applied {when} by {applied_by}."
    )


def export_all(settings: Settings, output_dir: Path) -> ExportAllResult:
    """Write every scope of the database, and a kpis.yaml, into ``output_dir``."""
    directory = output_dir.expanduser()
    try:
        if not stat.S_ISDIR(os.stat(directory).st_mode):  # a file, a device
            raise UsageError(f"--output-dir {directory}: not a directory")
    except FileNotFoundError:
        pass  # created below
    except OSError as exc:  # a name too long, no permission
        raise UsageError(f"--output-dir {directory}: {exc.strerror or exc}") from None
    existing = _existing_catalog([directory / CATALOG_FILE, settings.ranges_dir / CATALOG_FILE])
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        customers = sorted(store.customers_by_slug(conn).values(), key=lambda c: c.slug)
        scope_ids: list[int | None] = [None, *(c.customer_id for c in customers)]
        stored = store.stored_ranges(conn, scope_ids)
        recorded = latest_recorded(conn, scope_ids)

    by_kpi: dict[str, list[KpiRange]] = defaultdict(list)
    ranges: dict[int | None, dict[str, KpiRange]] = {}
    for cid in scope_ids:
        ranges[cid] = {k: KpiRange.from_row(k, s.row) for k, s in stored.get(cid, {}).items()}
        for kpi, kpi_range in ranges[cid].items():
            by_kpi[kpi].append(kpi_range)
    entries: dict[str, CatalogEntry] = {}
    if existing is not None:  # keep every entry of the catalog, also KPIs nothing uses
        entries.update((k, CatalogEntry(d)) for k, d in existing.kpis.items())
    entries.update(build_catalog(by_kpi, existing.kpis if existing else None))
    order = list(existing.kpis) if existing else []
    result = ExportAllResult(directory)
    result.reviews = [k for k, e in entries.items() if e.review]

    catalog_path = directory / CATALOG_FILE
    text = catalog_text(entries, order)
    try:
        (directory / CUSTOMERS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output-dir {directory}: {exc.strerror or exc}") from None
    write_atomically(catalog_path, text)
    result.files.append(WrittenFile(catalog_path, None, "catalog", None, False))
    # read back as validate reads it: the generated catalog must itself be valid
    loaded, problems = load_catalog(catalog_path, display=str(catalog_path))
    result.problems += problems
    catalog = loaded or Catalog(catalog_path, {k: e.definition for k, e in entries.items()})

    names = {c.customer_id: c for c in customers}
    written: set[Path] = set()
    for cid in scope_ids:
        customer = names.get(cid) if cid is not None else None
        rec = recorded.get(cid)
        version = rec.revision.version if rec else 1
        scoring = Scoring.from_dict(rec.scoring) if rec and rec.scoring else None
        file_text = range_file_text(
            customer=customer.slug if customer else None,
            name=customer.name if customer else None,
            version=version,
            scoring=scoring,
            ranges=ranges[cid],
            catalog_order=order,
            comment=_comment(
                version,
                rec.revision.applied_at if rec else None,
                rec.revision.applied_by if rec else None,
            ).replace("\n", " "),
        )
        relative = Path(CUSTOMERS_DIR, f"{customer.slug}.yaml") if customer else Path(DEFAULTS_FILE)
        path = directory / relative
        _file, problems = load_range_file(path, catalog, display=str(path), data=file_text.encode())
        result.problems += problems
        write_atomically(path, file_text)
        written.add(path)
        result.files.append(
            WrittenFile(
                path,
                customer.slug if customer else None,
                "customer" if customer else "defaults",
                version,
                rec is not None,
            )
        )
    result.left = sorted(p for p in (directory / CUSTOMERS_DIR).glob("*.yaml") if p not in written)
    return result
