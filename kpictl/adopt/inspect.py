"""What an application's database holds before adoption: tables, columns, constraints,
customers, range rows and (PostgreSQL) who may use the tables. Reads only.

Everything is read with a handful of set-based queries, whatever the number of rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, inspect, text

from kpictl.backends import Backend, backend_for, backend_of
from kpictl.db import engine as db

CUSTOMERS = "customers"
RANGES = "kpi_reference_ranges"
BOUNDS = ("critical_min", "critical_max", "risk_min", "risk_max", "healthy_min", "healthy_max")
REQUIRED_CUSTOMER_COLUMNS = ("customer_id", "name")
REQUIRED_RANGE_COLUMNS = ("range_id", "customer_id", "kpi_name", *BOUNDS)
PAIR = ("customer_id", "kpi_name")


@dataclass(frozen=True, slots=True)
class IndexFact:
    name: str
    columns: tuple[str, ...]
    unique: bool
    predicate: str | None = None  # of a partial index


@dataclass(frozen=True, slots=True)
class LegacyRow:
    """One stored row of kpi_reference_ranges, as the application left it."""

    range_id: int
    customer_id: int | None
    kpi_name: str
    bounds: tuple[float | None, ...]  # in the order of BOUNDS

    def row(self) -> dict[str, Any]:
        return dict(zip(BOUNDS, self.bounds, strict=True))

    @property
    def finite(self) -> bool:
        return all(b is None or math.isfinite(b) for b in self.bounds)


@dataclass(frozen=True, slots=True)
class LegacyCustomer:
    customer_id: int
    name: str | None
    slug_value: Any = None  # the value of --slug-from column:COL (or of an existing slug)


@dataclass(frozen=True, slots=True)
class Grant:
    """Privileges a role other than the owner holds on a table (PostgreSQL)."""

    table: str
    role: str  # "PUBLIC" for grants to everyone
    privileges: tuple[str, ...]
    bypasses_rls: bool  # superuser or BYPASSRLS: row-level security never applies to it


@dataclass(slots=True)
class Found:
    """The database as adoption finds it."""

    dialect: str
    tables: set[str]
    revision: str | None  # alembic_version's, when the table exists
    managed: bool  # alembic_version exists
    customer_columns: dict[str, bool] = field(default_factory=dict)  # name -> nullable
    range_columns: dict[str, bool] = field(default_factory=dict)
    # the application's NOT NULL columns without a default (a row kpictl inserts lacks them)
    required: dict[str, list[str]] = field(default_factory=dict)
    unique_constraints: dict[str, tuple[str, ...]] = field(default_factory=dict)  # of ranges
    indexes: list[IndexFact] = field(default_factory=list)  # of ranges
    uq_nulls_not_distinct: bool = False
    fk_on_delete: str | None = None  # of ranges.customer_id -> customers; None: no FK
    customers: list[LegacyCustomer] = field(default_factory=list)
    rows: list[LegacyRow] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    owner: str | None = None  # of kpi_reference_ranges (PostgreSQL)

    @property
    def backend(self) -> Backend:
        return backend_for(self.dialect)


def inspect_database(conn: Connection, *, slug_column: str | None = None) -> Found:
    """Read what adoption needs to know; ``slug_column``: the customers column to read."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    managed = "alembic_version" in tables
    found = Found(
        backend_of(conn).name,
        tables,
        db.current_revision(conn) if managed else None,
        managed,
    )
    if managed or not {CUSTOMERS, RANGES} <= tables:
        return found
    found.customer_columns = {
        c["name"]: bool(c["nullable"]) for c in inspector.get_columns(CUSTOMERS)
    }
    found.range_columns = {c["name"]: bool(c["nullable"]) for c in inspector.get_columns(RANGES)}
    for table in (CUSTOMERS, RANGES):
        found.required[table] = [
            c["name"]
            for c in inspector.get_columns(table)
            if not c["nullable"] and c.get("default") is None
        ]
    found.unique_constraints = {
        str(u["name"]): tuple(u["column_names"]) for u in inspector.get_unique_constraints(RANGES)
    }
    found.indexes = _indexes(inspector.get_indexes(RANGES))
    for fk in inspector.get_foreign_keys(RANGES):
        if fk["referred_table"] == CUSTOMERS and tuple(fk["constrained_columns"]) == (
            "customer_id",
        ):
            found.fk_on_delete = str(fk.get("options", {}).get("ondelete") or "NO ACTION").upper()
    backend = found.backend
    found.uq_nulls_not_distinct = backend.unique_nulls_not_distinct(
        conn, RANGES, "uq_customer_kpi_name"
    )
    if backend.supports_rls:
        found.owner, found.grants = _pg_grants(conn)
    if not set(REQUIRED_CUSTOMER_COLUMNS) <= set(found.customer_columns) or not set(
        REQUIRED_RANGE_COLUMNS
    ) <= set(found.range_columns):
        return found  # not the application's shape: nothing more to read
    found.customers = _customers(conn, found, slug_column)
    found.rows = [
        LegacyRow(r[0], r[1], r[2], tuple(None if b is None else float(b) for b in r[3:]))
        for r in conn.execute(
            text(
                f"SELECT range_id, customer_id, kpi_name, {', '.join(BOUNDS)} "
                f"FROM {RANGES} ORDER BY range_id"
            )
        )
    ]
    return found


def _indexes(raw: list[Any]) -> list[IndexFact]:
    out = []
    for ix in raw:
        options = ix.get("dialect_options", {})
        predicate = options.get("sqlite_where") or options.get("postgresql_where")
        out.append(
            IndexFact(
                str(ix["name"]),
                tuple(c for c in ix["column_names"] if c is not None),
                bool(ix["unique"]),
                None if predicate is None else str(predicate),
            )
        )
    return out


def _customers(conn: Connection, found: Found, slug_column: str | None) -> list[LegacyCustomer]:
    column = slug_column if slug_column in found.customer_columns else None
    extra = f", {_quote(conn, column)}" if column else ""
    query = text(f"SELECT customer_id, name{extra} FROM {CUSTOMERS} ORDER BY customer_id")
    return [LegacyCustomer(r[0], r[1], r[2] if column else None) for r in conn.execute(query)]


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


_PG_GRANTS = text(
    """
    SELECT c.relname AS table_name, pg_get_userbyid(c.relowner) AS owner,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS role,
           a.privilege_type,
           COALESCE(r.rolsuper OR r.rolbypassrls, false) AS bypasses
    FROM pg_class c
    CROSS JOIN LATERAL aclexplode(COALESCE(c.relacl, acldefault('r', c.relowner))) AS a
    LEFT JOIN pg_roles r ON r.oid = a.grantee
    WHERE c.oid = to_regclass(:t) AND a.grantee <> c.relowner
    ORDER BY 3, 4
    """
)


def _pg_grants(conn: Connection) -> tuple[str | None, list[Grant]]:
    privileges: dict[str, list[str]] = {}
    bypasses: dict[str, bool] = {}
    owner = None
    for row in conn.execute(_PG_GRANTS, {"t": RANGES}):
        owner = row.owner
        privileges.setdefault(row.role, []).append(row.privilege_type)
        bypasses[row.role] = bool(row.bypasses)
    if owner is None:
        owner = conn.execute(
            text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(:t)"),
            {"t": RANGES},
        ).scalar()
    grants = [Grant(RANGES, role, tuple(p), bypasses[role]) for role, p in privileges.items()]
    return owner, grants
