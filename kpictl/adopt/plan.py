"""The adoption plan: what ``kpictl adopt`` would add, and what it found wrong. Pure.

From what :mod:`kpictl.adopt.inspect` read, the plan lists every statement it would run
(columns, constraints, indexes, tables, row-level security, the first revisions, the
schema version), each customer's slug, and the faults of the stored rows with their ids:
those that would break a constraint kpictl adds refuse the adoption; the others are
adopted and listed as what ``validate`` will refuse in the exported files.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Dialect, TextClause

from kpictl.adopt.catalog import CatalogEntry, build_catalog
from kpictl.adopt.inspect import (
    CUSTOMERS,
    PAIR,
    RANGES,
    REQUIRED_CUSTOMER_COLUMNS,
    REQUIRED_RANGE_COLUMNS,
    Found,
    LegacyCustomer,
)
from kpictl.adopt.slugs import SlugFault, SlugSource
from kpictl.db import schema
from kpictl.db.rls import POLICY, ROLE, TENANT_TABLES
from kpictl.errors import EXIT_PROBLEM, KpictlError, UsageError
from kpictl.rangefiles.model import Catalog, KpiRange, normalised_content
from kpictl.rangefiles.model import content_json as to_json
from kpictl.rangefiles.model import content_sha256 as to_sha256
from kpictl.rangefiles.rules import KPI_NAME_RE, KPI_NAME_RULE

ADOPTED_TABLES = (CUSTOMERS, RANGES)
FIRST_VERSION = 1


class NotAdoptable(UsageError):
    """The database is not one adoption knows how to take over (exit 2)."""


class AdoptionRefused(KpictlError):
    """Stored rows would break a constraint kpictl adds; nothing was changed (exit 1)."""

    exit_code = EXIT_PROBLEM


@dataclass(frozen=True, slots=True)
class Step:
    """One thing adoption does: a line of the plan and the statements that do it."""

    section: str  # customers, kpi_reference_ranges, tables, row-level security, ...
    sign: str  # "+" adds, "~" re-creates with the same name and meaning, "=" reuses
    text: str
    sql: tuple[str, ...] = ()
    kind: str = "sql"  # sql | fill_slugs | slug_not_null | tables | rls | revisions | stamp


@dataclass(frozen=True, slots=True)
class Fault:
    """A stored row (or customer) kpictl's rules refuse, with its ids."""

    message: str
    blocking: bool  # it would break a constraint adoption adds
    range_ids: tuple[int, ...] = ()
    customer_ids: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "blocking": self.blocking,
            "range_ids": list(self.range_ids),
            "customer_ids": list(self.customer_ids),
        }


@dataclass(slots=True)
class AdoptionPlan:
    dialect: str
    slug_source: SlugSource
    customers: list[LegacyCustomer]
    slugs: dict[int, str]
    rows: int
    steps: list[Step] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    revisions: list[dict[str, Any]] = field(default_factory=list)
    catalog: dict[str, CatalogEntry] = field(default_factory=dict)
    head: str = ""

    @property
    def blocking(self) -> list[Fault]:
        return [f for f in self.faults if f.blocking]

    @property
    def later(self) -> list[Fault]:
        return [f for f in self.faults if not f.blocking]

    def refuse_if_blocked(self) -> None:
        if self.blocking:
            n = len(self.blocking)
            raise AdoptionRefused(
                f"adoption refused: {n} problem{'s' if n != 1 else ''} in the stored data "
                "would break a constraint kpictl adds; nothing was changed",
                hint="fix the rows listed above in the application's database "
                "(or choose slugs with --slug-from), then run kpictl adopt again",
            )

    def lines(self) -> list[tuple[str | None, str]]:
        """The plan as styled lines (style, text) for the renderer."""
        style = {"+": "green", "~": "yellow", "=": "dim"}
        out: list[tuple[str | None, str]] = []
        section = None
        for step in self.steps:
            if step.section != section:
                section = step.section
                out.append(("bold", f"{section}:"))
            out.append((style.get(step.sign), f"  {step.sign} {step.text}"))
        out.append(("bold", f"slugs (--slug-from {self.slug_source}):"))
        names = {c.customer_id: c.name for c in self.customers}
        for cid in sorted(names):
            slug = self.slugs.get(cid)
            shown = slug if slug is not None else "(none: see the problems below)"
            out.append((None if slug else "red", f"  {cid:>6}  {names[cid]!s:<30} -> {shown}"))
        if not self.customers:
            out.append(("dim", "  (no customers)"))
        for note in self.notes:
            out.append(("yellow", f"note: {note}"))
        if self.blocking:
            out.append(("red", f"problems that refuse the adoption ({len(self.blocking)}):"))
            out += [("red", f"  ! {_fault_text(f)}") for f in self.blocking]
        if self.later:
            out.append(
                (
                    "yellow",
                    f"stored rows adopted as they are, that 'kpictl validate' will refuse "
                    f"in the exported files ({len(self.later)}):",
                )
            )
            out += [("yellow", f"  ? {_fault_text(f)}") for f in self.later]
        return out

    def records(self) -> list[dict[str, Any]]:
        """The plan as flat records with one fixed header (``-o csv``): steps, slugs, faults."""
        blank = dict.fromkeys(
            ("kind", "section", "action", "what", "customer_id", "slug", "range_ids")
        )
        out = [
            {**blank, "kind": "step", "section": s.section, "action": s.sign, "what": s.text}
            for s in self.steps
        ]
        out += [
            {
                **blank,
                "kind": "slug",
                "section": "customers",
                "what": c.name,
                "customer_id": c.customer_id,
                "slug": self.slugs.get(c.customer_id),
            }
            for c in self.customers
        ]
        out += [
            {
                **blank,
                "kind": "refusal" if f.blocking else "validate",
                "what": f.message,
                "customer_id": " ".join(str(i) for i in f.customer_ids) or None,
                "range_ids": " ".join(str(i) for i in f.range_ids) or None,
            }
            for f in self.faults
        ]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "steps": [{"section": s.section, "action": s.sign, "what": s.text} for s in self.steps],
            "slug_from": str(self.slug_source),
            "slugs": [
                {
                    "customer_id": c.customer_id,
                    "name": c.name,
                    "slug": self.slugs.get(c.customer_id),
                }
                for c in self.customers
            ],
            "faults": [f.as_dict() for f in self.faults],
            "notes": self.notes,
            "head": self.head,
        }


def _fault_text(fault: Fault) -> str:
    ids = []
    if fault.range_ids:
        ids.append("range_id " + ", ".join(str(i) for i in fault.range_ids))
    if fault.customer_ids and not fault.range_ids:
        ids.append("customer_id " + ", ".join(str(i) for i in fault.customer_ids))
    return f"{fault.message} [{'; '.join(ids)}]" if ids else fault.message


# -- making the plan -------------------------------------------------------------------


def check_adoptable(found: Found) -> None:
    """Refuse (exit 2) a database that is not the application's shape."""
    if not found.tables:
        raise NotAdoptable(
            "the database has no tables: there is nothing to adopt",
            hint="use 'kpictl init' to create kpictl's schema in a new database",
        )
    missing = [t for t in ADOPTED_TABLES if t not in found.tables]
    if missing:
        raise NotAdoptable(
            f"the database has no {' and no '.join(missing)} table: there is nothing to adopt",
            hint="adopt takes over an application's customers and kpi_reference_ranges; "
            "for a new database use 'kpictl init'",
        )
    for table, have, need in (
        (CUSTOMERS, found.customer_columns, REQUIRED_CUSTOMER_COLUMNS),
        (RANGES, found.range_columns, REQUIRED_RANGE_COLUMNS),
    ):
        absent = [c for c in need if c not in have]
        if absent:
            raise NotAdoptable(
                f"{table} has no column {', '.join(absent)}: not the shape adopt knows "
                f"(it needs {', '.join(need)})"
            )
    if "slug" in found.customer_columns:
        raise NotAdoptable(
            "customers already has a column slug: not the application's shape adopt knows "
            "(it adds slug itself, and never takes over a column it did not make)",
            hint="rename the application's column; then --slug-from column:NEW_NAME "
            "uses its values",
        )
    if found.fk_on_delete is None:
        raise NotAdoptable(
            f"{RANGES}.customer_id has no foreign key to customers: not the shape adopt knows"
        )
    if found.fk_on_delete != "CASCADE":
        raise NotAdoptable(
            f"{RANGES}.customer_id references customers ON DELETE {found.fk_on_delete}, "
            "not CASCADE: adopt does not change the application's foreign key"
        )
    clash = [
        t.name
        for t in schema.metadata.sorted_tables
        if t.name not in ADOPTED_TABLES and t.name in found.tables
    ]
    if clash:
        raise NotAdoptable(
            f"the database already has a table {clash[0]!r} that kpictl would create",
            hint="adopt never changes a table it does not know; rename it in the application",
        )


def make_plan(
    found: Found,
    *,
    dialect: Dialect,
    source: SlugSource,
    slugs: Mapping[int, str],
    slug_faults: list[SlugFault],
    catalog: Catalog | None,
    head: str,
    applied_by: str,
    now: datetime,
) -> AdoptionPlan:
    """Everything adoption would do to ``found`` (already checked by check_adoptable)."""
    plan = AdoptionPlan(found.dialect, source, found.customers, dict(slugs), len(found.rows))
    plan.head = head
    postgresql = found.postgresql
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    q = dialect.identifier_preparer.quote

    # customers: the slug, then kpictl's other columns
    slug_rule = f"from --slug-from {source}"
    slug_type = _type(schema.customers.c.slug, dialect)
    # (check_adoptable refused a customers table that has a slug column already)
    plan.steps.append(
        Step(
            CUSTOMERS,
            "+",
            f"column slug {slug_type} NOT NULL, {slug_rule}",
            (f"ALTER TABLE {CUSTOMERS} ADD COLUMN slug {slug_type}",),
        )
    )
    plan.steps.append(Step(CUSTOMERS, "+", "fill slug of every customer", kind="fill_slugs"))
    if postgresql:
        sql: tuple[str, ...] = (f"ALTER TABLE {CUSTOMERS} ALTER COLUMN slug SET NOT NULL",)
        what = "slug NOT NULL"
    else:
        # SQLite's ALTER TABLE cannot add NOT NULL to a column (only a rebuild of the
        # table could, which adopt never does): triggers refuse a NULL slug instead.
        sql = tuple(
            f"CREATE TRIGGER kpictl_customers_slug_not_null_{event.split()[0].lower()} "
            f"BEFORE {event} ON {CUSTOMERS} FOR EACH ROW WHEN NEW.slug IS NULL "
            "BEGIN SELECT RAISE(ABORT, 'NOT NULL constraint failed: customers.slug'); END"
            for event in ("INSERT", "UPDATE OF slug")
        )
        what = "slug NOT NULL (triggers: SQLite cannot add NOT NULL to a column)"
    plan.steps.append(Step(CUSTOMERS, "+", what, sql))
    if postgresql:
        plan.steps.append(
            Step(
                CUSTOMERS,
                "+",
                "unique constraint uq_customers_slug (slug)",
                (f"ALTER TABLE {CUSTOMERS} ADD CONSTRAINT uq_customers_slug UNIQUE (slug)",),
            )
        )
    else:
        plan.steps.append(
            Step(
                CUSTOMERS,
                "+",
                "unique index uq_customers_slug (slug)",
                (f"CREATE UNIQUE INDEX uq_customers_slug ON {CUSTOMERS} (slug)",),
            )
        )
    for column in schema.customers.columns:
        if column.name not in found.customer_columns and column.name != "slug":
            plan.steps.append(_add_column(CUSTOMERS, column, dialect, stamp))

    # kpi_reference_ranges: kpictl's columns, then its constraints and indexes
    for column in schema.kpi_reference_ranges.columns:
        if column.name not in found.range_columns:
            plan.steps.append(_add_column(RANGES, column, dialect, stamp))
    uq = found.unique_constraints.get("uq_customer_kpi_name")
    if uq is not None and uq != PAIR:
        raise NotAdoptable(
            f"uq_customer_kpi_name covers {uq}, not {PAIR}: not the shape adopt knows"
        )
    nnd = "UNIQUE NULLS NOT DISTINCT (customer_id, kpi_name)"
    if postgresql:
        if uq is None:
            plan.steps.append(
                Step(
                    RANGES,
                    "+",
                    f"unique constraint uq_customer_kpi_name {nnd}",
                    (f"ALTER TABLE {RANGES} ADD CONSTRAINT uq_customer_kpi_name {nnd}",),
                )
            )
        elif found.uq_nulls_not_distinct:
            plan.steps.append(Step(RANGES, "=", "uq_customer_kpi_name (NULLS NOT DISTINCT): kept"))
        else:
            plan.steps.append(
                Step(
                    RANGES,
                    "~",
                    "uq_customer_kpi_name re-created as NULLS NOT DISTINCT (same name, same "
                    "columns): two system defaults for one KPI are refused",
                    (
                        f"ALTER TABLE {RANGES} DROP CONSTRAINT uq_customer_kpi_name, "
                        f"ADD CONSTRAINT uq_customer_kpi_name {nnd}",
                    ),
                )
            )
    else:
        if uq is None:
            plan.steps.append(
                Step(
                    RANGES,
                    "+",
                    "unique index uq_customer_kpi_name (customer_id, kpi_name)",
                    (f"CREATE UNIQUE INDEX uq_customer_kpi_name ON {RANGES} ({', '.join(PAIR)})",),
                )
            )
            plan.notes.append(
                "SQLite cannot add a table constraint: uq_customer_kpi_name becomes a unique "
                "index, which verify-isolation's schema_constraints does not accept"
            )
        else:
            plan.steps.append(
                Step(RANGES, "=", "uq_customer_kpi_name (customer_id, kpi_name): kept")
            )
        partial = next(
            (
                i
                for i in found.indexes
                if i.unique
                and i.columns == ("kpi_name",)
                and " ".join((i.predicate or "").lower().split()) == "customer_id is null"
            ),
            None,
        )
        if partial is not None:
            plan.steps.append(Step(RANGES, "=", f"partial unique index {partial.name}: kept"))
        else:
            plan.steps.append(
                Step(
                    RANGES,
                    "+",
                    "partial unique index uq_default_kpi_name (kpi_name) WHERE customer_id IS "
                    "NULL: two system defaults for one KPI are refused",
                    (
                        f"CREATE UNIQUE INDEX uq_default_kpi_name ON {RANGES} (kpi_name) "
                        "WHERE customer_id IS NULL",
                    ),
                )
            )
    if any(i.name == "idx_ref_range_customer_kpi" for i in found.indexes):
        plan.steps.append(Step(RANGES, "=", "index idx_ref_range_customer_kpi: kept"))
    else:
        plan.steps.append(
            Step(
                RANGES,
                "+",
                "index idx_ref_range_customer_kpi (customer_id, kpi_name)",
                (f"CREATE INDEX idx_ref_range_customer_kpi ON {RANGES} (customer_id, kpi_name)",),
            )
        )
    plan.steps.append(
        Step(RANGES, "=", "foreign key customer_id -> customers ON DELETE CASCADE: kept")
    )

    # kpictl's own tables, as a fresh init creates them
    new_tables = [t.name for t in schema.metadata.sorted_tables if t.name not in ADOPTED_TABLES]
    plan.steps.append(Step("tables", "+", ", ".join(new_tables), kind="tables"))

    if postgresql:
        _row_level_security(plan, found, q)

    _faults(plan, found, slug_faults)
    _revisions(plan, found, catalog, applied_by, now)
    n, scopes = len(plan.revisions), len(plan.slugs) + 1
    if n == scopes:
        what = (
            f"version {FIRST_VERSION} of {n} scopes (the defaults and every customer), as adopted"
        )
    else:
        what = (
            f"version {FIRST_VERSION} of {n} of the {scopes} scopes, as adopted (the others "
            "make no valid file, see below: diff will show them)"
        )
    plan.steps.append(
        Step(
            "revision log",
            "+",
            what,
            kind="revisions",
        )
    )
    plan.steps.append(Step("schema version", "+", f"alembic_version {head}", kind="stamp"))
    return plan


def _type(column: Column[Any], dialect: Dialect) -> str:
    return str(column.type.compile(dialect=dialect))


def _add_column(table: str, column: Column[Any], dialect: Dialect, stamp: str) -> Step:
    """ADD COLUMN with kpictl's default; SQLite cannot add a non-constant default, so a
    time column defaults to the time of adoption there."""
    parts = [dialect.identifier_preparer.quote(column.name), _type(column, dialect)]
    default = column.server_default
    if default is not None:
        arg = getattr(default, "arg", None)
        if isinstance(arg, str):
            sql = arg
        elif isinstance(arg, TextClause):
            sql = arg.text
        else:
            sql = str(arg.compile(dialect=dialect))  # type: ignore[union-attr]
        if dialect.name == "sqlite" and not _constant(sql):
            sql = f"'{stamp}'"
        parts.append(f"DEFAULT {sql}")
    elif not column.nullable:
        raise NotAdoptable(f"cannot add {table}.{column.name}: NOT NULL without a default")
    if not column.nullable:
        parts.append("NOT NULL")
    ddl = " ".join(parts)
    return Step(table, "+", f"column {ddl}", (f"ALTER TABLE {table} ADD COLUMN {ddl}",))


def _constant(sql: str) -> bool:
    s = sql.strip()
    return s.replace(".", "", 1).lstrip("-").isdigit() or (s.startswith("'") and s.endswith("'"))


def _row_level_security(plan: AdoptionPlan, found: Found, q: Any) -> None:
    section = "row-level security"
    plan.steps.append(
        Step(
            section,
            "+",
            f"role {ROLE} (NOLOGIN, no BYPASSRLS), SELECT on customers and "
            f"{', '.join(TENANT_TABLES)}; row-level security and policy {POLICY} on each "
            "(as migration 0002 of a fresh init)",
            kind="rls",
        )
    )
    for grant in found.grants:
        if grant.role == ROLE:
            continue
        privileges = ", ".join(grant.privileges)
        if grant.bypasses_rls:
            plan.steps.append(
                Step(
                    section, "=", f"{grant.role} ({privileges}): superuser or BYPASSRLS, unaffected"
                )
            )
        elif grant.role == "PUBLIC":
            plan.notes.append(
                f"PUBLIC holds {privileges} on {RANGES}: under row-level security a role "
                "that relies on PUBLIC sees no rows; grant that role its privileges by name "
                "before adopting, and it keeps them"
            )
        else:
            name = f"kpictl_keep_{grant.role}"[:63]
            plan.steps.append(
                Step(
                    section,
                    "+",
                    f"policy {name} on {RANGES} FOR ALL TO {grant.role} USING (true): "
                    f"{grant.role} keeps every row it could reach ({privileges})",
                    (
                        f"CREATE POLICY {q(name)} ON {RANGES} AS PERMISSIVE FOR ALL "
                        f"TO {q(grant.role)} USING (true) WITH CHECK (true)",
                    ),
                )
            )
    if found.owner:
        plan.steps.append(
            Step(section, "=", f"{found.owner} owns {RANGES}: owners are not subject to it")
        )


def _faults(plan: AdoptionPlan, found: Found, slug_faults: list[SlugFault]) -> None:
    for sf in slug_faults:
        plan.faults.append(
            Fault(
                sf.message + " (slugs must be unique and not null)",
                True,
                customer_ids=sf.customer_ids,
            )
        )
    known = {c.customer_id for c in found.customers}
    by_pair: dict[tuple[int | None, str], list[int]] = defaultdict(list)
    orphans: dict[int, list[int]] = defaultdict(list)
    for row in found.rows:
        by_pair[(row.customer_id, row.kpi_name)].append(row.range_id)
        if row.customer_id is not None and row.customer_id not in known:
            orphans[row.customer_id].append(row.range_id)
    for (cid, kpi), ids in sorted(by_pair.items(), key=lambda kv: kv[1][0]):
        if len(ids) < 2:
            continue
        if cid is None:
            what = (
                "uq_customer_kpi_name NULLS NOT DISTINCT"
                if found.postgresql
                else "uq_default_kpi_name"
            )
            plan.faults.append(
                Fault(
                    f"{len(ids)} system-default rows for {kpi} (break {what}): keep one",
                    True,
                    tuple(ids),
                )
            )
        else:
            plan.faults.append(
                Fault(
                    f"{len(ids)} rows of customer {cid} for {kpi} (break uq_customer_kpi_name)",
                    True,
                    tuple(ids),
                    (cid,),
                )
            )
    for cid, ids in sorted(orphans.items()):
        plan.faults.append(
            Fault(
                f"rows of customer_id {cid}, which is not in customers (they break the foreign "
                "key kpictl enforces, and belong to no tenant)",
                True,
                tuple(ids),
                (cid,),
            )
        )


def _revisions(
    plan: AdoptionPlan, found: Found, existing: Catalog | None, applied_by: str, now: datetime
) -> None:
    """Check every scope as the range file export --all writes for it, and record the
    valid ones as revision 1, so that export --all then diff --all find nothing."""
    from kpictl.export import range_file_text
    from kpictl.rangefiles import load_range_file

    scopes: dict[int | None, dict[str, Any]] = {None: {}}
    scopes.update({cid: {} for cid in plan.slugs})
    range_ids: dict[tuple[int | None, str], int] = {}
    by_kpi: dict[str, list[KpiRange]] = defaultdict(list)
    for row in found.rows:
        if row.customer_id in scopes and (row.customer_id, row.kpi_name) not in range_ids:
            kpi_range = KpiRange.from_row(row.kpi_name, row.row())
            scopes[row.customer_id][row.kpi_name] = kpi_range
            range_ids[(row.customer_id, row.kpi_name)] = row.range_id
            by_kpi[row.kpi_name].append(kpi_range)
    plan.catalog = build_catalog(by_kpi, existing.kpis if existing else None)
    kpis = {k: e.definition for k, e in plan.catalog.items()}
    catalog = Catalog(path=Path("kpis.yaml"), kpis=kpis)
    if existing is not None:
        outside = sorted(k for k in by_kpi if k not in existing.kpis)
        if outside:
            plan.faults.append(
                Fault(
                    f"KPIs not in {existing.path}: {', '.join(outside)} (export --all adds them "
                    "to its kpis.yaml, marked for review)",
                    False,
                    tuple(sorted(i for (_, k), i in range_ids.items() if k in outside)),
                )
            )
    for kpi in sorted(k for k in by_kpi if not KPI_NAME_RE.fullmatch(k)):
        plan.faults.append(
            Fault(
                f"KPI name {kpi!r} is not valid in kpis.yaml: {KPI_NAME_RULE}",
                False,
                tuple(sorted(i for (_, k), i in range_ids.items() if k == kpi)),
            )
        )
    names = {c.customer_id: c.name for c in found.customers}
    for cid, ranges in scopes.items():
        slug = plan.slugs.get(cid) if cid is not None else None
        name = (names.get(cid) or slug) if cid is not None else None
        text = range_file_text(
            customer=slug, name=name, version=FIRST_VERSION, scoring=None, ranges=ranges
        )
        path = Path("customers", f"{slug}.yaml") if slug else Path("defaults.yaml")
        loaded, problems = load_range_file(path, catalog, display=str(path), data=text.encode())
        for p in problems:
            if p.severity != "error":
                continue
            named = p.where.split(".")[1] if p.where.startswith("ranges.") else None
            rid = range_ids.get((cid, named)) if named else None
            owner = "system default" if cid is None else f"customer {cid} ({slug})"
            plan.faults.append(
                Fault(
                    f"{owner} {p.where or path}: {p.message}",
                    False,
                    (rid,) if rid else (),
                    (cid,) if cid else (),
                )
            )
        if loaded is None:
            continue
        content = normalised_content(slug, name, None, ranges.values())
        plan.revisions.append(
            {
                "customer_id": cid,
                "scope": slug,
                "version": FIRST_VERSION,
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "content_sha256": to_sha256(content),
                "catalog_sha256": None,
                "applied_at": now,
                "applied_by": f"{applied_by} (kpictl adopt)",
                "adds": len(ranges),
                "changes": 0,
                "removes": 0,
                "scoring": None,
                "content": to_json(content),
            }
        )
