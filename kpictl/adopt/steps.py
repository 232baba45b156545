"""Making the adoption plan from what :mod:`kpictl.adopt.inspect` read. Pure.

The statements come from kpictl's own schema (``kpictl.db.schema``): each column it
has and the application's tables lack is added with kpictl's default; constraints and
indexes of the same name and meaning are kept, the missing ones added; kpictl's other
tables are created as ``init`` creates them; on PostgreSQL row-level security is
enabled as migration 0002 enables it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Dialect, TextClause

from kpictl.adopt.inspect import (
    CUSTOMERS,
    PAIR,
    RANGES,
    REQUIRED_CUSTOMER_COLUMNS,
    REQUIRED_RANGE_COLUMNS,
    Found,
)
from kpictl.adopt.plan import ADOPTED_TABLES, FIRST_VERSION, AdoptionPlan, NotAdoptable, Step
from kpictl.adopt.scopes import check_scopes, structural_faults
from kpictl.adopt.slugs import SlugFault, SlugSource
from kpictl.backends import Backend
from kpictl.db import schema
from kpictl.db.rls import POLICY, ROLE, TENANT_TABLES
from kpictl.rangefiles.model import Catalog


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
    backend = found.backend
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
    if backend.alters_constraints:
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
    if backend.alters_constraints:
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
            plan.steps.append(_add_column(CUSTOMERS, column, dialect, backend, stamp))

    # kpi_reference_ranges: kpictl's columns, then its constraints and indexes
    for column in schema.kpi_reference_ranges.columns:
        if column.name not in found.range_columns:
            plan.steps.append(_add_column(RANGES, column, dialect, backend, stamp))
    uq = found.unique_constraints.get("uq_customer_kpi_name")
    if uq is not None and uq != PAIR:
        raise NotAdoptable(
            f"uq_customer_kpi_name covers {uq}, not {PAIR}: not the shape adopt knows"
        )
    nnd = "UNIQUE NULLS NOT DISTINCT (customer_id, kpi_name)"
    if backend.nulls_not_distinct:
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

    for table, kpictl_table in (
        (CUSTOMERS, schema.customers),
        (RANGES, schema.kpi_reference_ranges),
    ):
        extra = [c for c in found.required.get(table, []) if c not in kpictl_table.c]
        if extra:
            plan.notes.append(
                f"{table}.{', '.join(extra)}: NOT NULL without a default, and not kpictl's: "
                f"the rows kpictl inserts into {table} (seed, customers add) will be refused "
                "until the application gives it a default"
            )

    # kpictl's own tables, as a fresh init creates them
    new_tables = [t.name for t in schema.metadata.sorted_tables if t.name not in ADOPTED_TABLES]
    plan.steps.append(Step("tables", "+", ", ".join(new_tables), kind="tables"))

    if backend.supports_rls:
        _row_level_security(plan, found, q)

    structural_faults(plan, found, slug_faults)
    check_scopes(plan, found, catalog, applied_by, now)
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


def _add_column(
    table: str, column: Column[Any], dialect: Dialect, backend: Backend, stamp: str
) -> Step:
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
        if not backend.expression_column_defaults and not _constant(sql):
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
            f"{', '.join(TENANT_TABLES)}; row-level security and policy {POLICY} on each, "
            "customers showing the tenant its own row only (as migrations 0002 and 0005 "
            "of a fresh init)",
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
            for table in (RANGES, "customers"):  # customers: row-level security since 0005
                plan.steps.append(
                    Step(
                        section,
                        "+",
                        f"policy {name} on {table} FOR ALL TO {grant.role} USING (true): "
                        f"{grant.role} keeps every row it could reach ({privileges})",
                        (
                            f"CREATE POLICY {q(name)} ON {table} AS PERMISSIVE FOR ALL "
                            f"TO {q(grant.role)} USING (true) WITH CHECK (true)",
                        ),
                    )
                )
    if found.owner:
        plan.steps.append(
            Step(section, "=", f"{found.owner} owns {RANGES}: owners are not subject to it")
        )
