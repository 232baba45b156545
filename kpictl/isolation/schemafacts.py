"""The schema facts ``schema_constraints`` checks, read with SQLAlchemy's Inspector.

The Inspector reads both backends' catalogs into one shape: unique constraints (with
``postgresql_nulls_not_distinct`` in their dialect options; on SQLite their names,
which only the CREATE TABLE text keeps), PostgreSQL's indexes and foreign keys (with
``ondelete``). Read with SQL of their own: PostgreSQL foreign keys added ``NOT VALID``,
SQLite's ``PRAGMA foreign_keys`` on this connection, and SQLite's indexes (in one
statement: the Inspector's statement per index would make the count of statements
depend on the schema being checked).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, inspect, text

from kpictl.db import engine as db
from kpictl.db.schema import TENANT_TABLES, customers, kpi_observations
from kpictl.db.schema import kpi_reference_ranges as R
from kpictl.isolation.report import CheckResult, Violation


class _Index(NamedTuple):
    table: str
    name: str
    unique: bool
    columns: tuple[str, ...]
    nulls_not_distinct: bool  # PostgreSQL 15+; always False on SQLite
    predicate: str | None  # of a partial index


class _ForeignKey(NamedTuple):
    table: str
    name: str | None  # SQLite's are anonymous
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str  # CASCADE, NO ACTION, ...
    valid: bool  # PostgreSQL: False for a foreign key added NOT VALID


@dataclass
class _Schema:
    """What the catalogs say, in one shape for both backends."""

    indexes: list[_Index] = field(default_factory=list)
    foreign_keys: list[_ForeignKey] = field(default_factory=list)
    unique_constraints: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    sqlite_foreign_keys: bool = False
    # SQLite: the (table, columns) of each UNIQUE constraint; SQLite keeps their names
    # only in the CREATE TABLE text
    sqlite_unique: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def unique_constraint(
        self, table: str, name: str, columns: tuple[str, ...]
    ) -> tuple[str, ...] | None:
        """The columns of the unique constraint ``name`` (SQLite: of one on ``columns``)."""
        if (table, columns) in self.sqlite_unique:
            return columns
        return self.unique_constraints.get((table, name))

    def index(self, table: str, name: str) -> _Index | None:
        return next((i for i in self.indexes if (i.table, i.name) == (table, name)), None)

    def unique_index(self, table: str, columns: tuple[str, ...]) -> _Index | None:
        """A unique, non-partial index on exactly these columns."""
        return next(
            (
                i
                for i in self.indexes
                if i.table == table and i.unique and i.columns == columns and not i.predicate
            ),
            None,
        )


_PAIR = ("customer_id", "kpi_name")


def schema_constraints(conn: Connection) -> CheckResult:
    """Section 2's constraints, indexes and cascades, read from the catalogs."""
    if not (db.is_postgresql(conn) or db.is_sqlite(conn)):
        return CheckResult("schema_constraints", skipped=f"not implemented for {conn.dialect.name}")
    schema = read_schema(conn)
    problems: list[tuple[str | None, str]] = []
    postgresql = db.is_postgresql(conn)

    # uq_customer_kpi_name: one row per customer and KPI
    constraint = schema.unique_constraint(R.name, "uq_customer_kpi_name", _PAIR)
    if constraint is None:
        also = " and, without its NULLS NOT DISTINCT, two system defaults" if postgresql else ""
        problems.append(
            (
                R.name,
                "unique constraint uq_customer_kpi_name on kpi_reference_ranges is missing: "
                f"two rows of one customer for one KPI{also} would be accepted",
            )
        )
    elif constraint != _PAIR:
        problems.append((R.name, f"uq_customer_kpi_name covers {constraint}, not {_PAIR}"))
    elif schema.unique_index(R.name, _PAIR) is None:
        problems.append((R.name, "no unique index enforces uq_customer_kpi_name"))
    # one system default per KPI: NULLS NOT DISTINCT (PostgreSQL) or a partial unique
    # index (SQLite)
    if postgresql:
        backing = schema.index(R.name, "uq_customer_kpi_name")
        if constraint is not None and (backing is None or not backing.nulls_not_distinct):
            problems.append(
                (
                    R.name,
                    "uq_customer_kpi_name is not NULLS NOT DISTINCT: two system defaults for "
                    "one KPI would be accepted",
                )
            )
    else:
        partial = schema.index(R.name, "uq_default_kpi_name")
        if partial is None:
            problems.append(
                (
                    R.name,
                    "partial unique index uq_default_kpi_name (kpi_name WHERE customer_id IS "
                    "NULL) is missing: two system defaults for one KPI would be accepted",
                )
            )
        elif (
            not partial.unique
            or partial.columns != ("kpi_name",)
            or _normalise(partial.predicate) != "customer_id is null"
        ):
            found = f"{'UNIQUE ' if partial.unique else ''}{partial.columns}"
            problems.append(
                (
                    R.name,
                    "index uq_default_kpi_name is not UNIQUE (kpi_name) WHERE customer_id IS "
                    f"NULL (found {found} WHERE {partial.predicate})",
                )
            )
    index = schema.index(R.name, "idx_ref_range_customer_kpi")
    if index is None:
        problems.append(
            (R.name, "index idx_ref_range_customer_kpi on kpi_reference_ranges is missing")
        )
    elif index.columns != _PAIR:
        problems.append((R.name, f"idx_ref_range_customer_kpi covers {index.columns}"))
    observation_key = ("customer_id", "kpi_name", "observed_at")
    if schema.unique_index(kpi_observations.name, observation_key) is None:
        problems.append(
            (
                kpi_observations.name,
                "kpi_observations has no unique constraint on (customer_id, kpi_name, observed_at)",
            )
        )
    # every tenant table: customer_id references customers ON DELETE CASCADE
    for table in TENANT_TABLES:
        fk = next(
            (
                fk
                for fk in schema.foreign_keys
                if (fk.table, fk.columns, fk.ref_table) == (table, ("customer_id",), customers.name)
            ),
            None,
        )
        if fk is None:
            problems.append(
                (
                    table,
                    f"{table}.customer_id has no foreign key to customers: rows of unknown "
                    "customers would be accepted",
                )
            )
            continue
        if fk.ref_columns != ("customer_id",):
            problems.append((table, f"{table}.customer_id references customers{fk.ref_columns}"))
        if fk.on_delete != "CASCADE":
            problems.append(
                (
                    table,
                    f"{table}.customer_id references customers without ON DELETE CASCADE "
                    f"(ON DELETE {fk.on_delete}): removing a customer would leave its rows",
                )
            )
        if not fk.valid:
            problems.append((table, f"the foreign key {fk.name} of {table} is NOT VALID"))
    if db.is_sqlite(conn) and not schema.sqlite_foreign_keys:
        problems.append(
            (
                None,
                "PRAGMA foreign_keys is OFF on this connection: SQLite would accept rows of "
                "unknown customers and ignore ON DELETE CASCADE",
            )
        )
    violations = tuple(Violation(message, table=table) for table, message in problems)
    return CheckResult("schema_constraints", violations)


_PG_NOT_VALID = text(
    """
    SELECT conrelid::regclass::text AS table_name, conname::text AS name
    FROM pg_constraint
    WHERE contype = 'f' AND NOT convalidated
      AND conrelid IN (SELECT to_regclass(name) FROM unnest(CAST(:tables AS text[])) AS name)
    """
)


def read_schema(conn: Connection) -> _Schema:
    """The indexes, unique constraints and foreign keys of the tenant tables."""
    inspector = inspect(conn)
    tables = list(TENANT_TABLES)
    sqlite = db.is_sqlite(conn)
    schema = _Schema()
    if sqlite:
        _sqlite_indexes(conn, schema)
    else:
        for (_, table), indexes in inspector.get_multi_indexes(filter_names=tables).items():
            for ix in indexes:
                options = ix.get("dialect_options", {})
                where = options.get("postgresql_where")
                schema.indexes.append(
                    _Index(
                        table,
                        str(ix["name"]),
                        bool(ix["unique"]),
                        tuple(str(c) for c in ix["column_names"]),
                        bool(options.get("postgresql_nulls_not_distinct", False)),
                        None if where is None else str(where),
                    )
                )
    if not sqlite:
        uniques = inspector.get_multi_unique_constraints(filter_names=tables)
        for (_, table), constraints in uniques.items():
            for uc in constraints:
                if uc["name"]:
                    schema.unique_constraints[(table, uc["name"])] = tuple(uc["column_names"])
    not_valid: set[tuple[str, str]] = set()
    if db.is_postgresql(conn):
        not_valid = {
            (r.table_name, r.name) for r in conn.execute(_PG_NOT_VALID, {"tables": tables})
        }
    for (_, table), fks in inspector.get_multi_foreign_keys(filter_names=tables).items():
        for fk in fks:
            on_delete = (fk.get("options", {}).get("ondelete") or "NO ACTION").upper()
            schema.foreign_keys.append(
                _ForeignKey(
                    table,
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    on_delete,
                    (table, fk["name"]) not in not_valid,
                )
            )
    if sqlite:
        schema.sqlite_foreign_keys = bool(conn.exec_driver_sql("PRAGMA foreign_keys").scalar())
    return schema


# SQLite's indexes in one statement, including the anonymous sqlite_autoindex_* ones that
# enforce its UNIQUE constraints. Not the Inspector here: it sends a statement per
# index, and the statement count of verify-isolation must not depend on the schema it
# checks (a dropped index is found by the same statements, test_statement_count).
_SQLITE_INDEXES = text(
    """
    SELECT m.name AS table_name, il.name AS index_name, il."unique", il.partial, il.origin,
           ii.name AS column_name, ix.sql
    FROM sqlite_master AS m
    JOIN pragma_index_list(m.name) AS il
    JOIN pragma_index_info(il.name) AS ii
    LEFT JOIN sqlite_master AS ix ON ix.type = 'index' AND ix.name = il.name
    WHERE m.type = 'table' AND m.name IN (SELECT value FROM json_each(:tables))
    ORDER BY m.name, il.name, ii.seqno
    """
)
# A partial index's predicate: what follows the last WHERE of its CREATE INDEX (the
# index columns of kpictl's schema are plain names, with no WHERE inside them).
_SQLITE_WHERE = re.compile(r"\bWHERE\b(?P<pred>(?:(?!\bWHERE\b).)*)$", re.I | re.S)


def _sqlite_indexes(conn: Connection, schema: _Schema) -> None:
    parts: dict[tuple[str, str], list[Any]] = {}
    for row in conn.execute(_SQLITE_INDEXES, {"tables": json.dumps(list(TENANT_TABLES))}):
        parts.setdefault((row.table_name, row.index_name), []).append(row)
    for (table_name, index_name), rows in parts.items():
        first = rows[0]
        predicate = None
        if first.partial:
            where = _SQLITE_WHERE.search(first.sql or "")
            predicate = where.group("pred").strip() if where else (first.sql or "?")
        columns = tuple(r.column_name for r in rows)
        schema.indexes.append(
            _Index(table_name, index_name, bool(first.unique), columns, False, predicate)
        )
        if first.origin == "u":  # the index of a UNIQUE constraint, whose name SQLite
            schema.sqlite_unique.append((table_name, columns))  # keeps in no catalog


def _normalise(sql: str | None) -> str:
    return re.sub(r"\s+", " ", (sql or "").replace('"', "")).strip().strip("()").lower()
