"""SQLite: the file database that needs no server (the default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    URL,
    Column,
    Connection,
    DateTime,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    event,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.pool import NullPool

from kpictl.backends.base import Backend, MergeCounts
from kpictl.db.schema import kpi_observations


class SQLiteBackend(Backend):
    """SQLite: foreign keys switched on per connection, BEGIN IMMEDIATE for writers, no
    roles nor row-level security (isolation rests on kpictl's queries there)."""

    name = "sqlite"

    def create_engine(self, url: URL, *, lock_seconds: float) -> Engine:
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": lock_seconds})
        _configure(engine)
        return engine

    def prepare_write(self, conn: Connection) -> None:
        # the next BEGIN is BEGIN IMMEDIATE: it takes the database's write lock up front
        # (the busy timeout given to the connection bounds the wait)
        conn.execution_options(kpictl_write=True)

    @contextmanager
    def migration_lock(self, conn: Connection, seconds: float) -> Iterator[None]:
        self.prepare_write(conn)  # SQLite's write lock, via BEGIN IMMEDIATE
        yield

    def merge_observations(self, conn: Connection, staging: Table, rows: int) -> MergeCounts:
        """Staging → latest line per key → kpi_observations: update changed, insert new."""
        S, Obs = staging, kpi_observations
        key = (S.c.customer_id, S.c.kpi_name, S.c.observed_at)
        L = Table(
            "kpictl_import_latest",
            MetaData(),
            Column("customer_id", Integer, primary_key=True),
            Column("kpi_name", String(63), primary_key=True),
            Column("observed_at", DateTime(timezone=True), primary_key=True),
            Column("value", Double, nullable=False),
            prefixes=["TEMPORARY"],
        )
        L.create(conn)
        last_lines = select(func.max(S.c.ordinal)).group_by(*key)
        distinct = conn.execute(
            insert(L).from_select(
                ["customer_id", "kpi_name", "observed_at", "value"],
                select(*key, S.c.value).where(S.c.ordinal.in_(last_lines)),
            )
        ).rowcount
        same_key = and_(
            Obs.c.customer_id == L.c.customer_id,
            Obs.c.kpi_name == L.c.kpi_name,
            Obs.c.observed_at == L.c.observed_at,
        )
        unchanged = conn.execute(
            select(func.count()).select_from(L.join(Obs, same_key)).where(Obs.c.value == L.c.value)
        ).scalar_one()
        replaced = conn.execute(
            update(Obs)
            .where(exists().where(same_key, L.c.value != Obs.c.value))
            .values(value=select(L.c.value).where(same_key).scalar_subquery())
        ).rowcount
        inserted = conn.execute(
            insert(Obs).from_select(
                ["customer_id", "kpi_name", "observed_at", "value"],
                select(L.c.customer_id, L.c.kpi_name, L.c.observed_at, L.c.value).where(
                    ~exists().where(same_key)
                ),
            )
        ).rowcount
        L.drop(conn)
        staging.drop(conn)
        return MergeCounts(distinct, inserted, replaced, unchanged)


def _configure(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot BEGIN IMMEDIATE;
    # take it over (the SQLAlchemy documentation's recipe) so that writers lock up front.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("kpictl_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
