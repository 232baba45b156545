"""The schema facts ``schema_constraints`` checks, read with SQLAlchemy's Inspector.

The backend reads the catalogs into one shape (:meth:`Backend.keys`: indexes and
unique constraints; PostgreSQL's with the Inspector, SQLite's in one statement of its
own), foreign keys added ``NOT VALID`` and whether this connection enforces foreign
keys; the Inspector reads the foreign keys (with ``ondelete``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import Connection, inspect

from kpictl.backends import backend_of
from kpictl.backends.base import IndexInfo as _Index
from kpictl.db.schema import TENANT_TABLES, customers, kpi_observations
from kpictl.db.schema import kpi_reference_ranges as R
from kpictl.isolation.report import CheckResult, Violation


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
    foreign_keys_enforced: bool = True
    # the (table, columns) of each UNIQUE constraint whose name the catalog does not keep
    # (SQLite keeps them only in the CREATE TABLE text)
    unnamed_unique: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def unique_constraint(
        self, table: str, name: str, columns: tuple[str, ...]
    ) -> tuple[str, ...] | None:
        """The columns of the unique constraint ``name`` (unnamed: of one on ``columns``)."""
        if (table, columns) in self.unnamed_unique:
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
    backend = backend_of(conn)
    if not backend.schema_known:
        return CheckResult("schema_constraints", skipped=f"not implemented for {backend.name}")
    schema = read_schema(conn)
    problems: list[tuple[str | None, str]] = []
    nulls_not_distinct = backend.nulls_not_distinct

    # uq_customer_kpi_name: one row per customer and KPI
    constraint = schema.unique_constraint(R.name, "uq_customer_kpi_name", _PAIR)
    if constraint is None:
        also = (
            " and, without its NULLS NOT DISTINCT, two system defaults"
            if nulls_not_distinct
            else ""
        )
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
    if nulls_not_distinct:
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
    if not schema.foreign_keys_enforced:
        problems.append(
            (
                None,
                "PRAGMA foreign_keys is OFF on this connection: SQLite would accept rows of "
                "unknown customers and ignore ON DELETE CASCADE",
            )
        )
    violations = tuple(Violation(message, table=table) for table, message in problems)
    return CheckResult("schema_constraints", violations)


def read_schema(conn: Connection) -> _Schema:
    """The indexes, unique constraints and foreign keys of the tenant tables."""
    backend = backend_of(conn)
    tables = list(TENANT_TABLES)
    keys = backend.keys(conn, tables)
    schema = _Schema(indexes=list(keys.indexes))
    for unique in keys.uniques:
        if unique.name is None:
            schema.unnamed_unique.append((unique.table, unique.columns))
        else:
            schema.unique_constraints[(unique.table, unique.name)] = unique.columns
    not_valid = backend.invalid_foreign_keys(conn, tables)
    inspector = inspect(conn)
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
    schema.foreign_keys_enforced = backend.foreign_keys_enforced(conn)
    return schema


def _normalise(sql: str | None) -> str:
    return re.sub(r"\s+", " ", (sql or "").replace('"', "")).strip().strip("()").lower()
