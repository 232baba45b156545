"""Carry out an adoption plan: one transaction, then the schema version is stamped.

Only what the plan lists is run. The application's columns and rows are never dropped,
renamed or rewritten: columns are added, the slug filled in, constraints and indexes
added (on PostgreSQL uq_customer_kpi_name may be re-created under its own name with
NULLS NOT DISTINCT), kpictl's own tables created, and on PostgreSQL row-level security
enabled exactly as migration 0002 enables it.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, String, Table, bindparam, text, update

from kpictl.adopt.inspect import CUSTOMERS
from kpictl.adopt.plan import ADOPTED_TABLES, AdoptionPlan
from kpictl.backends import backend_of
from kpictl.db import schema
from kpictl.db.rls import enable_row_level_security, scope_customers
from kpictl.store import JsonText, bulk_insert

_alembic = MetaData()
alembic_version = Table(
    "alembic_version",
    _alembic,
    # what Alembic itself creates: version_num VARCHAR(32), primary key alembic_version_pkc
    Column("version_num", String(32), primary_key=True),
)
alembic_version.primary_key.name = "alembic_version_pkc"


def apply_plan(conn: Connection, plan: AdoptionPlan, *, lock_timeout: float) -> None:
    """Run every step of the plan on ``conn`` (inside the caller's transaction).

    On PostgreSQL, ALTER TABLE waits for every transaction of the application that
    touched the table: that wait is bounded by ``lock_timeout`` seconds (then exit 3,
    nothing changed), never unbounded while the application's queries queue behind it.
    """
    backend_of(conn).set_lock_timeout(conn, lock_timeout)
    for step in plan.steps:
        if step.kind == "sql":
            for statement in step.sql:
                conn.execute(text(statement))
        elif step.kind == "fill_slugs":
            _fill_slugs(conn, plan.slugs)
        elif step.kind == "tables":
            tables = [t for t in schema.metadata.sorted_tables if t.name not in ADOPTED_TABLES]
            schema.metadata.create_all(conn, tables=tables, checkfirst=False)
        elif step.kind == "rls":
            enable_row_level_security(conn)
            scope_customers(conn)  # migration 0005
        elif step.kind == "revisions":
            rows = [{**r, "content": JsonText(r["content"])} for r in plan.revisions]
            bulk_insert(conn, schema.range_revisions, rows)
        elif step.kind == "stamp":
            _alembic.create_all(conn)
            conn.execute(alembic_version.insert().values(version_num=plan.head))
        else:  # pragma: no cover - a plan only holds the kinds above
            raise AssertionError(step.kind)


def _fill_slugs(conn: Connection, slugs: dict[int, str]) -> None:
    if not slugs:
        return
    customers = Table(
        CUSTOMERS, MetaData(), Column("customer_id"), Column("slug"), extend_existing=True
    )
    conn.execute(
        update(customers)
        .where(customers.c.customer_id == bindparam("b_id"))
        .values(slug=bindparam("b_slug")),
        [{"b_id": cid, "b_slug": slug} for cid, slug in slugs.items()],
    )
