"""SQLite: the file database that needs no server (the default)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
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
    text,
    update,
)
from sqlalchemy.pool import NullPool

from kpictl.backends.base import Backend, IndexInfo, Keys, MergeCounts, UniqueInfo
from kpictl.db.schema import kpi_observations


class SQLiteBackend(Backend):
    """SQLite: foreign keys switched on per connection, BEGIN IMMEDIATE for writers, no
    roles nor row-level security (isolation rests on kpictl's queries there)."""

    name = "sqlite"
    without_rls_note = (
        "not applicable: SQLite has no roles and no row-level security; there isolation "
        "rests on kpictl's scoped queries (no_foreign_rows) and on the constraints and "
        "foreign keys (schema_constraints)"
    )
    schema_known = True
    alters_constraints = False
    expression_column_defaults = False

    def database_file(self, url: URL) -> Path | None:
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:") or url.query.get("uri"):
            return None
        return Path(database)

    def create_engine(self, url: URL, *, lock_seconds: float) -> Engine:
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": lock_seconds})
        _configure(engine)
        return engine

    def serving_engine(
        self,
        url: URL,
        *,
        lock_seconds: float,
        pool_size: int,
        max_overflow: int,
        pool_timeout: float,
    ) -> Engine:
        """kpictl's engine (foreign keys on), every connection ``query_only``."""
        engine = self.create_engine(url, lock_seconds=lock_seconds)

        @event.listens_for(engine, "connect")
        def _query_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA query_only=ON")
            cursor.close()

        return engine

    def prepare_write(self, conn: Connection) -> None:
        # the next BEGIN is BEGIN IMMEDIATE: it takes the database's write lock up front
        # (the busy timeout given to the connection bounds the wait)
        conn.execution_options(kpictl_write=True)

    @contextmanager
    def migration_lock(self, conn: Connection, seconds: float) -> Iterator[None]:
        self.prepare_write(conn)  # SQLite's write lock, via BEGIN IMMEDIATE
        yield

    def keys(self, conn: Connection, tables: Sequence[str]) -> Keys:
        """In one statement, with the anonymous sqlite_autoindex_* indexes of UNIQUE
        constraints (whose names SQLite keeps in no catalog: unnamed here)."""
        parts: dict[tuple[str, str], list[Any]] = {}
        for row in conn.execute(_INDEXES, {"tables": json.dumps(list(tables))}):
            parts.setdefault((row.table_name, row.index_name), []).append(row)
        indexes, uniques = [], []
        for (table_name, index_name), rows in parts.items():
            first = rows[0]
            predicate = None
            if first.partial:
                where = _WHERE.search(first.sql or "")
                predicate = where.group("pred").strip() if where else (first.sql or "?")
            columns = tuple(r.column_name for r in rows)
            indexes.append(
                IndexInfo(table_name, index_name, bool(first.unique), columns, False, predicate)
            )
            if first.origin == "u":  # the index of a UNIQUE constraint
                uniques.append(UniqueInfo(table_name, None, columns))
        return Keys(indexes, uniques)

    def foreign_keys_enforced(self, conn: Connection) -> bool:
        return bool(conn.exec_driver_sql("PRAGMA foreign_keys").scalar())

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


# The indexes in one statement. Not the Inspector: it sends a statement per index, and
# the statement count of verify-isolation must not depend on the schema it checks (a
# dropped index is found by the same statements, test_statement_count).
_INDEXES = text(
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
_WHERE = re.compile(r"\bWHERE\b(?P<pred>(?:(?!\bWHERE\b).)*)$", re.I | re.S)


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
