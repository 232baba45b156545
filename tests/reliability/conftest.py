"""Helpers of the reliability tests: faults injected into kpictl's own database
connection at a point the test chooses, and the checks every failure must pass."""

from __future__ import annotations

import multiprocessing
import re
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_clean_error(result: Any, code: int) -> str:
    """The command failed with ``code``, one ``error:`` line (perhaps then a ``hint:``),
    no traceback, nothing "unexpected". Returns the error line."""
    output = result.stdout + result.stderr
    assert result.exit_code == code, output
    assert "Traceback" not in output, output
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert not errors[0].startswith("error: unexpected"), errors[0]
    return errors[0]


class Hang(BaseException):
    """A run went past its time limit. A BaseException, so that kpictl's edge, which
    turns every Exception into an error line, does not swallow it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (rather than hang the suite) when the block runs longer than ``seconds``."""

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    """What a command run in a child process did (see :func:`run_bounded`)."""

    exit_code: int
    stdout: str
    stderr: str


def run_bounded(kpictl: Any, args: list[str], seconds: float) -> Outcome:
    """``kpictl(*args)`` in a forked child, killed after ``seconds``: a hang in C code
    (a regular expression, a driver call), which no signal handler can interrupt, fails
    the test instead of hanging the suite. Arguments of any size (no exec)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child() -> None:
        result = kpictl(*args, expect=None)
        send.send((result.exit_code, result.stdout, result.stderr))

    process = context.Process(target=child)
    process.start()
    try:
        if not receive.poll(seconds):
            raise AssertionError(f"kpictl {args[0]} ... still running after {seconds} s")
        return Outcome(*receive.recv())
    finally:
        process.kill()
        process.join()


# -- faults ------------------------------------------------------------------------

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


# -- a second seed worth interrupting ------------------------------------------------


def edit_for_second_seed(ranges_dir: Path) -> None:
    """Range edits whose seed (with --prune) adds a customer, adds, changes and removes
    rows, and renames a customer: every kind of write of a seed."""
    acme = ranges_dir / "customers" / "acme.yaml"
    acme.write_text(
        acme.read_text()
        .replace("version: 1", "version: 2")
        .replace("name: Acme Corp", "name: Acme Corporation")
        .replace("risk: {min: 0.5, max: 2}", "risk: {min: 0.8, max: 2}")
        .replace("healthy: {max: 0.5}", "healthy: {max: 0.8}")
    )
    dc = ranges_dir / "customers" / "data-center.yaml"
    text = dc.read_text().replace("version: 1", "version: 2")
    start = text.index("  cold_start_pct:")
    end = text.index("  health_score:")
    dc.write_text(text[:start] + text[end:])
    (ranges_dir / "customers" / "initech.yaml").write_text(
        "apiVersion: kpictl/v1\ncustomer: initech\nname: Initech\nversion: 1\nranges:\n"
        "  error_rate_pct:\n    critical: {min: 4}\n    risk: {min: 1, max: 4}\n"
        "    healthy: {max: 1}\n"
    )


class Kit:
    """The helpers above, for the tests of this directory (conftest is not importable
    under --import-mode=importlib)."""

    error_lines = staticmethod(error_lines)
    time_limit = staticmethod(time_limit)
    run_bounded = staticmethod(run_bounded)
    assert_one_clean_error = staticmethod(assert_one_clean_error)
    injected = staticmethod(injected)
    terminate_backend = staticmethod(terminate_backend)
    edit_for_second_seed = staticmethod(edit_for_second_seed)


@pytest.fixture
def rel() -> type[Kit]:
    return Kit
