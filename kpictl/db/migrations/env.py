"""Alembic environment of kpictl's migrations.

kpictl itself (``kpictl init`` and the write commands) hands over an open connection
in ``config.attributes["connection"]``, inside its migration lock. The stock
``alembic`` command works too, with an ``alembic.ini`` whose ``script_location`` is
``kpictl.db:migrations`` (the repository ships one)::

    alembic -x url=postgresql://user@host/db current
    alembic -x url=postgresql://user@host/db upgrade head
    alembic -x url=postgresql://user@host/db check

The database is ``-x url=...``, else the ini's ``sqlalchemy.url``, else kpictl's own
setting (``KPICTL_DATABASE_URL``, default ``sqlite:///kpictl.db``). It is opened the way
kpictl opens it (driver, SQLite's foreign keys and BEGIN IMMEDIATE, PostgreSQL's
connect timeout) and migrated under the same lock ``kpictl init`` takes.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from kpictl.db.schema import include_object_for, metadata


def _configure(connection: Connection) -> None:
    dialect = connection.dialect.name
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=dialect == "sqlite",
        transactional_ddl=True,
        # autogenerate (``alembic check``, ``revision --autogenerate``) compares the
        # database with the items created on its dialect only
        include_object=include_object_for(dialect),
    )
    with context.begin_transaction():
        context.run_migrations()


def _database_url() -> str:
    from kpictl.settings import Settings

    given = context.get_x_argument(as_dictionary=True).get("url")
    if given:
        return given
    configured = context.config.get_main_option("sqlalchemy.url")
    if configured:
        return configured
    return Settings.resolve().database_url


def _run_standalone() -> None:
    """The stock ``alembic`` command: open the database as kpictl does, take the lock."""
    from alembic.util import CommandError

    from kpictl.backends import backend_of
    from kpictl.db.engine import make_engine, translate_errors
    from kpictl.errors import KpictlError
    from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings

    if context.is_offline_mode():
        raise CommandError("kpictl's migrations run against a database: no offline mode (--sql)")
    try:
        settings = Settings(database_url=_database_url())
        with translate_errors(settings):
            engine = make_engine(settings)
            try:
                with (
                    engine.connect() as connection,
                    backend_of(connection).migration_lock(connection, DEFAULT_LOCK_TIMEOUT),
                    connection.begin(),
                ):
                    _configure(connection)
            finally:
                engine.dispose()
    except KpictlError as exc:  # alembic prints "FAILED: <message>" and exits 1
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        raise CommandError(f"{exc.message}{hint}") from exc


given = context.config.attributes.get("connection")
if given is not None:
    _configure(given)
else:
    _run_standalone()
