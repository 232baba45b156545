"""What differs between the databases kpictl supports, behind one interface.

Like Alembic's ``ddl/impl.py`` with ``ddl/postgresql.py`` and ``ddl/sqlite.py``: the
rest of kpictl asks :func:`kpictl.backends.backend_of` for the backend of a connection
and calls it; ``if dialect`` is written in this package and nowhere else. The base
class holds the portable way of each operation; a backend overrides what it does
faster or differently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Table,
    and_,
    create_engine,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.pool import NullPool

from kpictl.db.schema import kpi_observations

if TYPE_CHECKING:
    from kpictl.observations.csvread import CsvRow


class JsonText(str):
    """A JSON value already serialised: COPY writes it as it is. A seed writes the
    content of 10,000 revisions, serialised by the processes that parsed the files."""


@dataclass(frozen=True, slots=True)
class MergeCounts:
    """What merging staged observations did, per distinct (customer, KPI, time)."""

    distinct: int  # distinct keys among the staged rows
    inserted: int
    replaced: int
    unchanged: int


StagedBatch = list[tuple[int, "CsvRow"]]
"""Observation rows with their ordinal in the file (the last line for a key wins)."""


class IndexInfo(NamedTuple):
    """An index as the catalog describes it, in one shape for every backend."""

    table: str
    name: str
    unique: bool
    columns: tuple[str, ...]
    nulls_not_distinct: bool  # PostgreSQL 15+; always False on SQLite
    predicate: str | None  # of a partial index


class UniqueInfo(NamedTuple):
    """A unique constraint; ``name`` None where the catalog keeps no name (SQLite)."""

    table: str
    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Keys:
    """The indexes and unique constraints of some tables."""

    indexes: list[IndexInfo]
    uniques: list[UniqueInfo]


class Backend:
    """The portable behaviour; subclasses override what their database does better."""

    name = "generic"
    supports_rls = False  # row-level security, roles and policies (SPEC section 2)
    # why the row-level security check does not apply, where it does not
    without_rls_note: str | None = None
    stage_batch = 10_000  # observation rows per staging write
    # kpictl's schema is defined for this database (verify-isolation checks it there)
    schema_known = False
    # UNIQUE ... NULLS NOT DISTINCT: one system default per KPI is enforced by
    # uq_customer_kpi_name itself; else by the partial unique index uq_default_kpi_name
    nulls_not_distinct = False
    # array_agg and float8[]: every customer's scoring inputs in one row each
    array_aggregates = False
    # ALTER TABLE adds NOT NULL and constraints to a table (SQLite: only a rebuild could)
    alters_constraints = True
    # ALTER TABLE ADD COLUMN with a non-constant default (SQLite: constants only)
    expression_column_defaults = True

    # -- connecting ------------------------------------------------------------------

    def driver_url(self, url: URL) -> URL:
        """The URL with kpictl's driver for this database."""
        return url

    def database_file(self, url: URL) -> Path | None:
        """The file a URL names, for a file database (a read never creates it); None
        for a server, an in-memory database or a URI whose file is the driver's."""
        return None

    def create_engine(self, url: URL, *, lock_seconds: float) -> Engine:
        return create_engine(url, poolclass=NullPool)

    def serving_engine(
        self,
        url: URL,
        *,
        lock_seconds: float,
        pool_size: int,
        max_overflow: int,
        pool_timeout: float,
    ) -> Engine:
        """A pooled engine for ``kpictl serve`` whose transactions can only read."""
        return self.create_engine(url, lock_seconds=lock_seconds)

    # -- transactions and locks ---------------------------------------------------------

    def read_options(self) -> dict[str, Any]:
        """Execution options of a read transaction (one snapshot for every statement)."""
        return {}

    def prepare_write(self, conn: Connection) -> None:
        """Called before a write transaction begins."""

    def write_lock(self, conn: Connection, seconds: float) -> None:
        """Take kpictl's write lock inside the write transaction (at most ``seconds``)."""

    def set_lock_timeout(self, conn: Connection, seconds: float) -> None:
        """Bound every lock wait of the rest of the transaction by ``seconds`` (at least
        a millisecond); a database that has no such setting waits as it does."""

    def without_jit(self, conn: Connection) -> None:
        """No JIT compilation of queries for the rest of the transaction (short scans
        whose cost estimate would trigger it pay more than they save)."""

    @contextmanager
    def migration_lock(self, conn: Connection, seconds: float) -> Iterator[None]:
        """Serialise schema migrations across processes (around ``conn.begin()``),
        waiting at most ``seconds`` for a lock."""
        yield

    # -- row-level security -------------------------------------------------------------

    def enter_tenant(self, conn: Connection, customer_id: int | None) -> None:
        """Run what follows in the transaction as the tenant role, for one customer."""

    def leave_tenant(self, conn: Connection) -> None:
        """Back to the session's own role."""

    def filtered_by_rls(
        self, conn: Connection, tables: Sequence[str]
    ) -> tuple[str, list[str]] | None:
        """The connecting role and those of ``tables`` that row-level security filters
        for it (one statement); None where there is no row-level security."""
        return None

    def unique_nulls_not_distinct(self, conn: Connection, table: str, constraint: str) -> bool:
        """Whether the unique constraint ``constraint`` of ``table`` is NULLS NOT DISTINCT."""
        return False

    # -- catalog -----------------------------------------------------------------------

    def keys(self, conn: Connection, tables: Sequence[str]) -> Keys:
        """The indexes and unique constraints of ``tables``, read with the Inspector."""
        inspector = inspect(conn)
        indexes: list[IndexInfo] = []
        for (_, table), found in inspector.get_multi_indexes(filter_names=tables).items():
            for ix in found:
                options = ix.get("dialect_options", {})
                where = options.get(f"{self.name}_where")
                indexes.append(
                    IndexInfo(
                        table,
                        str(ix["name"]),
                        bool(ix["unique"]),
                        tuple(str(c) for c in ix["column_names"]),
                        bool(options.get(f"{self.name}_nulls_not_distinct", False)),
                        None if where is None else str(where),
                    )
                )
        uniques = [
            UniqueInfo(table, uc["name"], tuple(uc["column_names"]))
            for (_, table), found in inspector.get_multi_unique_constraints(
                filter_names=tables
            ).items()
            for uc in found
            if uc["name"]
        ]
        return Keys(indexes, uniques)

    def invalid_foreign_keys(self, conn: Connection, tables: Sequence[str]) -> set[tuple[str, str]]:
        """(table, name) of the foreign keys of ``tables`` not validated (added NOT VALID)."""
        return set()

    def foreign_keys_enforced(self, conn: Connection) -> bool:
        """Whether this connection enforces foreign keys."""
        return True

    # -- scoring -----------------------------------------------------------------------

    def compiled_ranges_sql(self) -> Any:
        """An own range row as :data:`kpictl.scoring.bands.CompiledRange`, made by the
        database (where ``array_aggregates``): an array of (weight, min and max of each
        band), as ``compile_row``."""
        raise NotImplementedError(f"no arrays on {self.name}")

    # -- bulk writes ---------------------------------------------------------------------

    def bulk_insert(
        self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert rows (all with the same keys) in one bulk operation: one executemany
        INSERT (SQLAlchemy batches it into multi-row statements)."""
        if rows:
            conn.execute(insert(table), [_decoded(row) for row in rows])

    # -- observations ------------------------------------------------------------------

    def stage_observations(
        self,
        conn: Connection,
        staging: Table,
        batches: Iterator[StagedBatch],
        ids: Mapping[str, int],
    ) -> None:
        """Write the staged rows: an executemany INSERT per batch."""
        for batch in batches:
            conn.execute(
                insert(staging),
                [
                    {
                        "ordinal": ordinal,
                        "customer_id": ids[row.customer],  # type: ignore[index]
                        "kpi_name": row.kpi_name,
                        "observed_at": row.observed_at,
                        "value": row.value,
                    }
                    for ordinal, row in batch
                ],
            )

    def merge_observations(self, conn: Connection, staging: Table, rows: int) -> MergeCounts:
        """Staged rows (``rows`` of them) into kpi_observations: the last line per key
        wins, an existing value is replaced."""
        raise NotImplementedError

    def latest_values_query(self, at: datetime) -> Any:
        """Every customer's latest value of each KPI at or before ``at``: (customer_id,
        kpi_name, value) by customer id then KPI. The newest time of each pair, joined
        back."""
        return latest_observations_query(at, times=False)

    # -- seeding -----------------------------------------------------------------------

    def unconfirmed_scopes(
        self, conn: Connection, candidates: Mapping[int | None, tuple[str, str | None]]
    ) -> set[int | None] | None:
        """The scopes that cannot be confirmed unchanged, computed in the database; None:
        this backend does not, the caller hashes the stored rows itself."""
        return None


def latest_observations_query(
    at: datetime, customer_id: int | None = None, *, times: bool = True
) -> Any:
    """The latest observation of each (customer, KPI) at or before ``at`` (without its
    time when not ``times``): the newest time of each pair, joined back. Portable."""
    from kpictl.times import as_utc

    Obs = kpi_observations
    newest = select(
        Obs.c.customer_id, Obs.c.kpi_name, func.max(Obs.c.observed_at).label("observed_at")
    ).where(Obs.c.observed_at <= as_utc(at))
    if customer_id is not None:
        newest = newest.where(Obs.c.customer_id == customer_id)
    newest_sq = newest.group_by(Obs.c.customer_id, Obs.c.kpi_name).subquery("newest")
    when = [Obs.c.observed_at] if times else []
    return (
        select(Obs.c.customer_id, Obs.c.kpi_name, *when, Obs.c.value)
        .join_from(
            Obs,
            newest_sq,
            and_(
                Obs.c.customer_id == newest_sq.c.customer_id,
                Obs.c.kpi_name == newest_sq.c.kpi_name,
                Obs.c.observed_at == newest_sq.c.observed_at,
            ),
        )
        .order_by(Obs.c.customer_id, Obs.c.kpi_name)
    )


def _decoded(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """The row with JsonText values as the objects they hold, for SQLAlchemy's JSON type."""
    if not any(isinstance(v, JsonText) for v in row.values()):
        return row
    return {k: json.loads(v) if isinstance(v, JsonText) else v for k, v in row.items()}
