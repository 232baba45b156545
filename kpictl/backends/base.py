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
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, Table, and_, create_engine, func, insert, select
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


class Backend:
    """The portable behaviour; subclasses override what their database does better."""

    name = "generic"
    supports_rls = False  # row-level security, roles and policies (SPEC section 2)
    stage_batch = 10_000  # observation rows per staging write

    # -- connecting ------------------------------------------------------------------

    def create_engine(self, url: URL, *, lock_seconds: float) -> Engine:
        return create_engine(url, poolclass=NullPool)

    # -- transactions and locks ---------------------------------------------------------

    def read_options(self) -> dict[str, Any]:
        """Execution options of a read transaction (one snapshot for every statement)."""
        return {}

    def prepare_write(self, conn: Connection) -> None:
        """Called before a write transaction begins."""

    def write_lock(self, conn: Connection, seconds: float) -> None:
        """Take kpictl's write lock inside the write transaction (at most ``seconds``)."""

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
