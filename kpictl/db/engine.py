"""Engines, transactions, schema versioning and the translation of database errors.

Everything that talks to a database goes through :func:`open_database`, which
creates or upgrades the schema for init and the write commands (never for a read),
refuses a schema from a newer kpictl, and turns driver errors into the kpictl error
family (exit 3).
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, inspect, make_url
from sqlalchemy import exc as sa_exc

from kpictl.backends import backend_of
from kpictl.backends.postgresql import MIGRATE_LOCK_KEY as MIGRATE_LOCK_KEY
from kpictl.backends.postgresql import SEED_LOCK_KEY as SEED_LOCK_KEY
from kpictl.db.tenant import refuse_reads_through_rls
from kpictl.errors import (
    DatabaseError,
    DatabaseUnavailable,
    KpictlError,
    LockTimeout,
    SchemaMissing,
    SchemaOutdated,
    SchemaTooNew,
)
from kpictl.numbers import fmt_num
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings, password_of

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

MAX_LOCK_WAIT_SECONDS = 2_147_483  # PostgreSQL's lock_timeout is at most 2^31-1 ms


def known_revisions() -> list[str]:
    """Revision ids this kpictl ships, oldest first (read from file names, no Alembic import)."""
    names = os.listdir(MIGRATIONS_DIR / "versions")
    return sorted(m.group(1) for n in names if (m := re.match(r"^(\d{4})_\w+\.py$", n)))


def head_revision() -> str:
    return known_revisions()[-1]


def driver_url(url: str) -> URL:
    """The URL with kpictl's driver: plain ``postgresql://`` means psycopg2."""
    parsed = make_url(url)
    return backend_of(parsed).driver_url(parsed)


def make_engine(settings: Settings, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Engine:
    """An engine for the settings' URL; SQLite gets foreign keys and explicit BEGINs."""
    url = settings.database_url
    try:
        parsed = driver_url(url)
        written = password_of(url)
        if written is not None and parsed.password != written:
            # An unencoded '@': part of the password would be read as the host name
            # and could be printed in an error. Refuse before connecting.
            raise ValueError("an '@' in its password or query must be percent-encoded as %40")
        engine = backend_of(parsed).create_engine(parsed, lock_seconds=lock_seconds(lock_timeout))
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError, ValueError) as exc:
        raise DatabaseUnavailable(
            f"cannot use database URL {settings.safe_url}: {settings.mask(str(exc))}",
            hint="use a SQLAlchemy URL such as sqlite:///kpictl.db or postgresql://user@host/db",
        ) from exc
    return engine


def lock_seconds(lock_timeout: float) -> float:
    """--lock-timeout as a wait the drivers accept: 0 up to about 24 days."""
    if math.isnan(lock_timeout) or lock_timeout < 0:
        return 0.0
    return min(lock_timeout, MAX_LOCK_WAIT_SECONDS)


@contextmanager
def translate_errors(settings: Settings) -> Iterator[None]:
    """Turn driver errors into kpictl errors (exit 3), with passwords masked."""
    try:
        yield
    except KpictlError:
        raise
    except sa_exc.SQLAlchemyError as exc:
        raise database_error(exc, settings) from exc
    except Exception as exc:
        # A driver error that did not pass through SQLAlchemy: a raw cursor (COPY).
        wrapped = _driver_error(exc)
        if wrapped is None:
            raise
        raise database_error(wrapped, settings) from exc


def _driver_error(exc: Exception) -> sa_exc.SQLAlchemyError | None:
    """A DB-API error of a loaded driver, wrapped the way SQLAlchemy wraps them."""
    for name in ("psycopg2", "sqlite3"):
        base = getattr(sys.modules.get(name), "Error", None)
        if isinstance(base, type) and isinstance(exc, base):
            return sa_exc.DBAPIError.instance(None, None, exc, base)
    return None


_CONNECTION_LOST = (
    "server closed the connection",
    "terminating connection",
    "connection already closed",
    "connection not open",
    "ssl connection has been closed",
    "could not receive data from server",
    "could not send data to server",
)


def database_error(exc: sa_exc.SQLAlchemyError, settings: Settings) -> DatabaseError:
    orig = getattr(exc, "orig", None)
    detail = str(orig if orig is not None else exc).strip().splitlines()
    message = settings.mask(detail[0] if detail else type(exc).__name__)
    pgcode = getattr(orig, "pgcode", None)
    lowered = message.lower()
    if pgcode == "55P03" or "database is locked" in lowered or "lock timeout" in lowered:
        return LockTimeout(
            f"could not obtain the database lock in time: {message}",
            hint="another kpictl may be writing; retry, or raise --lock-timeout",
        )
    unreachable = (
        "could not connect",
        "connection refused",
        "could not translate host",
        "unable to open database file",
        "timeout expired",
        "does not exist",
        "no password supplied",
        "authentication failed",
    )
    if isinstance(exc, sa_exc.OperationalError) and any(s in lowered for s in unreachable):
        return DatabaseUnavailable(f"cannot connect to {settings.safe_url}: {message}")
    lost = (pgcode or "").startswith("08") or pgcode in ("57P01", "57P02")
    if lost or any(s in lowered for s in _CONNECTION_LOST):
        return DatabaseUnavailable(
            f"lost the connection to {settings.safe_url}: {message}",
            hint="the transaction did not complete; run the command again when the "
            "database is back",
        )
    if isinstance(exc, sa_exc.IntegrityError) or pgcode == "25006" or "readonly" in lowered:
        return DatabaseError(f"the database rejected the write: {message}")
    return DatabaseError(f"database error: {message}")


def current_revision(conn: Connection) -> str | None:
    """The schema revision recorded in the database, or None for a fresh database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def ensure_schema(engine: Engine) -> str:
    """Create or upgrade the schema when needed; refuse a newer one. Returns the revision."""
    head = head_revision()
    with engine.connect() as conn:
        revision = current_revision(conn)
        conn.rollback()
    if revision == head:
        return head
    _check_known(revision)
    return upgrade(engine)


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in known_revisions():
        raise SchemaTooNew(
            f"the database schema is at revision {revision}, newer than this kpictl "
            f"understands (up to {head_revision()})",
            hint="upgrade kpictl",
        )


def upgrade(engine: Engine) -> str:
    """Run the migrations up to head, serialised across processes.

    Several kpictl processes may meet a fresh database at once: each takes a lock
    (a PostgreSQL advisory lock; SQLite's write lock via BEGIN IMMEDIATE), then looks
    at the revision again, so only the first one migrates. On PostgreSQL no wait is
    unbounded: neither for that lock nor for a table lock a migration needs while
    another session reads the table (lock_timeout; then exit 3, nothing changed).
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with (
        engine.connect() as conn,
        backend_of(conn).migration_lock(conn, DEFAULT_LOCK_TIMEOUT),
        conn.begin(),
    ):
        revision = current_revision(conn)
        if revision != head_revision():
            _check_known(revision)
            if revision is None:
                _refuse_unmanaged_tables(conn)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return head_revision()


def _refuse_unmanaged_tables(conn: Connection) -> None:
    """An application's own customers/kpi_reference_ranges: adopt takes them over, not init."""
    from sqlalchemy import inspect

    present = set(inspect(conn).get_table_names())
    if {"customers", "kpi_reference_ranges"} & present:
        raise DatabaseError(
            "the database has tables of kpictl's names (customers, kpi_reference_ranges) "
            "but no kpictl schema version: another application created them",
            hint="'kpictl adopt' shows how kpictl would take them over; 'kpictl adopt --yes' "
            "does it",
        )


def initialise(settings: Settings) -> tuple[str | None, str]:
    """``kpictl init``: create or upgrade the schema; (revision before, revision after)."""
    with translate_errors(settings):
        engine = make_engine(settings)
        try:
            with engine.connect() as conn:
                before = current_revision(conn)
            after = ensure_schema(engine)
        finally:
            engine.dispose()
    return before, after


@contextmanager
def open_database(
    settings: Settings,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    write: bool = False,
) -> Iterator[Engine]:
    """An engine on the settings' database; driver errors inside become kpictl errors.

    ``write`` (init and the write commands): the schema is created or upgraded first.
    Otherwise the command only reads, and reading never writes: no database file is
    created, no schema created or upgraded. A missing SQLite file, a database without
    kpictl's schema and an older schema are errors (exit 3) that say what to run.
    """
    with open_database_revision(settings, lock_timeout=lock_timeout, write=write) as (engine, _):
        yield engine


@contextmanager
def open_database_revision(
    settings: Settings,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    write: bool = False,
    schema_optional: bool = False,
) -> Iterator[tuple[Engine, str | None]]:
    """An engine on the settings' database; driver errors inside become kpictl errors.

    ``write`` (init and the write commands): the schema is created or upgraded first.
    Otherwise the command only reads, and reading never writes: no database file is
    created, no schema created or upgraded. A missing SQLite file, a database without
    kpictl's schema (unless ``schema_optional``) and
    an older schema are errors (exit 3) that say what to run. Yields the engine and the
    schema revision (None: no kpictl schema, allowed only with ``schema_optional``).
    """
    with translate_errors(settings):
        if not write:
            _require_database_file(settings)
        engine = make_engine(settings, lock_timeout=lock_timeout)
        try:
            if write:
                revision: str | None = ensure_schema(engine)
            else:
                revision = _require_schema(engine, settings, optional=schema_optional)
            yield engine, revision
        finally:
            engine.dispose()


_INIT_HINT = "run kpictl init"


def _require_database_file(settings: Settings) -> None:
    """A read of a SQLite file that does not exist fails instead of creating the file."""
    try:
        url = driver_url(settings.database_url)
    except (sa_exc.ArgumentError, ValueError):
        return  # make_engine reports it
    database = backend_of(url).database_file(url)
    if database is not None and not database.exists():
        raise DatabaseUnavailable(
            f"cannot connect to {settings.safe_url}: no database file {url.database}",
            hint="point --db (or KPICTL_DATABASE_URL) at an existing database, or create "
            "this one with 'kpictl init'",
        )


def _require_schema(engine: Engine, settings: Settings, *, optional: bool) -> str | None:
    """Refuse a database without kpictl's schema (unless ``optional``), or with another
    revision than this kpictl's: a read never migrates behind a read-only user's back."""
    with engine.connect() as conn:
        revision = current_revision(conn)
        if revision is None and not optional:
            _refuse_unmanaged_tables(conn)  # an application's tables: point to adopt
        conn.rollback()
    if revision == head_revision():
        return revision
    if revision is None:
        if optional:
            return None
        raise SchemaMissing(
            f"the database {settings.safe_url} has no kpictl schema", hint=_INIT_HINT
        )
    _check_known(revision)
    raise SchemaOutdated(
        f"the database schema is at revision {revision}, older than this kpictl's "
        f"({head_revision()}); reading commands do not upgrade it",
        hint=_INIT_HINT,
    )


@contextmanager
def write_transaction(engine: Engine, *, lock_timeout: float) -> Iterator[Connection]:
    """One transaction that holds kpictl's write lock: concurrent writers never interleave.

    PostgreSQL: a transaction-scoped advisory lock, waited for at most ``lock_timeout``.
    SQLite: BEGIN IMMEDIATE, which takes the database's write lock up front (the busy
    timeout given to the connection bounds the wait).
    """
    seconds = lock_seconds(lock_timeout)
    with engine.connect() as conn:
        backend = backend_of(conn)
        backend.prepare_write(conn)
        try:
            transaction = conn.begin()  # SQLite: BEGIN IMMEDIATE, waiting for the lock
        except sa_exc.OperationalError as exc:
            if "database is locked" in str(exc.orig):
                raise lock_not_obtained(seconds) from exc
            raise
        with transaction:
            backend.write_lock(conn, seconds)
            yield conn


def lock_not_obtained(seconds: float) -> LockTimeout:
    return LockTimeout(
        "could not obtain the database lock in time: another writer held kpictl's "
        f"write lock for more than {fmt_num(seconds)} s (--lock-timeout); nothing was written",
        hint="another kpictl (seed, import, score --save) may be running; retry, "
        "or raise --lock-timeout",
    )


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """One read transaction: a consistent snapshot for multi-query reads (PostgreSQL:
    REPEATABLE READ, since its default READ COMMITTED takes a snapshot per statement;
    a SQLite transaction reads one state of the file already)."""
    with engine.connect() as conn:
        options = backend_of(conn).read_options()
        if options:
            conn = conn.execution_options(**options)
        with conn.begin():
            refuse_reads_through_rls(conn)  # PostgreSQL: never read a filtered view as all
            yield conn
