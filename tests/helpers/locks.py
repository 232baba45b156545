"""Another session holding a lock while a test runs kpictl: a transaction kept open on a
statement of the test's choosing, or kpictl's own write lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from kpictl.db.engine import SEED_LOCK_KEY, driver_url


@contextmanager
def holding_lock(db_url: str, statement: str) -> Iterator[None]:
    """Another session runs ``statement`` in a transaction and keeps it open until the
    block ends, or for 30 s at most: a kpictl that waited for ever would make the test
    fail on its timing instead of hanging the suite."""
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.connect() as conn:
            if conn.dialect.name != "sqlite":  # on SQLite the statement is the BEGIN
                conn.begin()
            conn.exec_driver_sql(statement)
            holding.set()
            release.wait(30)
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        holder.join()
        engine.dispose()


@contextmanager
def holding_write_lock(db_url: str, *, exclusive: bool = False) -> Iterator[None]:
    """Another session holds kpictl's write lock (SQLite: BEGIN IMMEDIATE, or BEGIN
    EXCLUSIVE, which also shuts out readers) until the block ends."""
    if db_url.startswith("sqlite"):
        lock = "BEGIN EXCLUSIVE" if exclusive else "BEGIN IMMEDIATE"
    else:
        lock = f"SELECT pg_advisory_xact_lock({SEED_LOCK_KEY})"
    with holding_lock(db_url, lock):
        yield
