"""Faults injected into kpictl's own database connection at a point the test chooses:
a PostgreSQL server process terminated from a second session, a SQLite "disk I/O error",
a COMMIT that cannot get its lock."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event

# A statement that writes, or takes kpictl's write lock (the rest of a write may be a
# COPY on the raw driver cursor, which the events do not see).
_WRITE = re.compile(
    r"\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|COPY|BEGIN IMMEDIATE)\b|.*advisory_xact_lock",
    re.I | re.S,
)


@dataclass
class Fault:
    """Where to break kpictl's database connection, and where it did.

    PostgreSQL: the connection's server process is terminated from a second session
    (``pg_terminate_backend``, waiting until it is gone), so the statement or COMMIT
    that follows meets a dead connection, as after a server crash, a failover or an
    administrator's kill. SQLite, which has no server: a statement fails with the
    driver's own "disk I/O error"; a COMMIT really fails, because another connection
    holds a read lock that the commit must wait for (for 0.1 s) and never gets.
    """

    db_url: str
    at_statement: int | None = None  # break before the n-th statement (1-based)
    at_copy: int | None = None  # break before the n-th COPY (PostgreSQL, raw cursor)
    at_copy_read: int | None = None  # break while a COPY streams, at its n-th piece of data
    at_commit: bool = False  # break just before COMMIT
    copies: int = 0
    copy_reads: int = 0
    statements: list[str] = field(default_factory=list)
    fired: str | None = None  # the statement (or "COMMIT") it broke
    writers: set[int] = field(default_factory=set)  # ids of connections that wrote
    reader: sqlite3.Connection | None = None

    def before_statement(self, dbapi_connection: Any, statement: str) -> None:
        self.statements.append(statement)
        if _WRITE.match(statement):
            self.writers.add(id(dbapi_connection))
        if statement.lstrip().upper().startswith("COPY"):
            self.copies += 1
            if self.fired is None and self.copies == self.at_copy:
                self.fired = statement
                terminate_backend(self.db_url, dbapi_connection.get_backend_pid())
        if self.fired is None and len(self.statements) == self.at_statement:
            self.fired = statement
            if self.db_url.startswith("sqlite"):
                raise sqlite3.OperationalError("disk I/O error")
            terminate_backend(self.db_url, dbapi_connection.get_backend_pid())

    def copy_read(self, dbapi_connection: Any) -> None:
        self.copy_reads += 1
        if self.fired is None and self.copy_reads == self.at_copy_read:
            self.fired = f"COPY (piece {self.copy_reads} of the data)"
            terminate_backend(self.db_url, dbapi_connection.get_backend_pid())

    def before_commit(self, dbapi_connection: Any) -> None:
        """Break the COMMIT of a transaction that wrote (not of a read-only one)."""
        if self.fired is None and self.at_commit and id(dbapi_connection) in self.writers:
            self.fired = "COMMIT"
            if not self.db_url.startswith("sqlite"):
                terminate_backend(self.db_url, dbapi_connection.get_backend_pid())
                return
            dbapi_connection.execute("PRAGMA busy_timeout = 100").fetchall()
            self.reader = sqlite3.connect(self.db_url.removeprefix("sqlite:///"))
            self.reader.isolation_level = None
            self.reader.execute("BEGIN")
            self.reader.execute("SELECT count(*) FROM customers").fetchall()

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()


def terminate_backend(db_url: str, pid: int) -> None:
    """Terminate a PostgreSQL server process from another session; wait until it is gone."""
    import psycopg2

    admin = psycopg2.connect(db_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
            assert cur.fetchone() == (True,), f"backend {pid} did not terminate"
    finally:
        admin.close()


@contextmanager
def injected(
    db_url: str,
    *,
    at_statement: int | None = None,
    at_copy: int | None = None,
    at_copy_read: int | None = None,
    at_commit: bool = False,
) -> Iterator[Fault]:
    """Break every kpictl connection opened inside the block at the chosen point.

    The hooks are class-level SQLAlchemy events on ``Engine``: they see the engines
    kpictl creates while the real CLI runs in this process. COPY, which kpictl sends
    on the raw psycopg2 cursor, is seen through a cursor class given to every new
    connection. Open no other engine inside the block (snapshots are taken outside).
    """
    fault = Fault(
        db_url,
        at_statement=at_statement,
        at_copy=at_copy,
        at_copy_read=at_copy_read,
        at_commit=at_commit,
    )

    def before_cursor_execute(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        fault.before_statement(cursor.connection, statement)

    def on_commit(conn: Connection) -> None:
        fault.before_commit(conn.connection.dbapi_connection)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if hasattr(dbapi_connection, "cursor_factory"):  # psycopg2
            dbapi_connection.cursor_factory = _copy_watching_cursor(fault)

    hooks = [
        ("before_cursor_execute", before_cursor_execute),
        ("commit", on_commit),
        ("connect", on_connect),
    ]
    for name, hook in hooks:
        event.listen(Engine, name, hook)
    try:
        yield fault
    finally:
        for name, hook in hooks:
            event.remove(Engine, name, hook)
        fault.close()


def _copy_watching_cursor(fault: Fault) -> type:
    import psycopg2.extensions

    class CopyWatchingCursor(psycopg2.extensions.cursor):
        def copy_expert(self, sql: Any, file: Any, size: int = 8192) -> Any:
            fault.before_statement(self.connection, str(sql))
            connection = self.connection

            class Watched:
                def read(self, n: int = -1) -> Any:
                    fault.copy_read(connection)
                    return file.read(n)

            return super().copy_expert(sql, Watched(), size)

    return CopyWatchingCursor
