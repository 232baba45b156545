"""``kpictl serve``: the tenant read API and score card page (SPEC section 8).

Imported by that command only: FastAPI, Starlette and uvicorn are an optional extra
(``kpictl[serve]``) and cost nothing to the other commands' start-up.
"""

from __future__ import annotations

import os

from kpictl.backends import backend_of
from kpictl.db import engine as db
from kpictl.errors import DatabaseError, DatabaseUnavailable, UsageError
from kpictl.settings import Settings


def check_database(settings: Settings) -> None:
    """Refuse to start on a database that is unreachable or whose schema is not this
    kpictl's (serving never creates a database file, nor creates or upgrades a schema)."""
    with db.translate_errors(settings):
        engine = db.make_engine(settings)  # checks the URL; connects only below
        try:
            path = backend_of(engine.url).database_file(engine.url)
            if path is not None and not path.exists():
                raise DatabaseUnavailable(
                    f"no database at {settings.safe_url}", hint="run kpictl init"
                )
            with engine.connect() as conn:
                revision = db.current_revision(conn)
                conn.rollback()
        finally:
            engine.dispose()
    head = db.head_revision()
    if revision != head:
        db._check_known(revision)  # a newer schema: SchemaTooNew
        state = "has no kpictl schema" if revision is None else f"is at revision {revision}"
        raise DatabaseError(
            f"the database {settings.safe_url} {state}; kpictl serve needs {head}",
            hint="run kpictl init",
        )


def serve(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    """Serve until interrupted. Blocks."""
    try:
        import uvicorn

        from kpictl.serve import app as serve_app
    except ImportError as exc:
        raise UsageError(
            f"kpictl serve needs the 'serve' extra ({exc.name} is missing)",
            hint="pip install 'kpictl[serve]'",
        ) from None
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    check_database(settings)
    serve_app.configure_logging()
    options = {
        "host": host,
        "port": port,
        "access_log": False,  # its lines carry the query string, which may hold a token
        "server_header": False,
        "proxy_headers": False,
        "log_level": "info",
    }
    if workers == 1:
        from kpictl.rangefiles.rangedir import RangeDir

        application = serve_app.create_app(
            settings, file_defaults=dict(RangeDir(settings.ranges_dir).file_defaults())
        )
        uvicorn.run(application, **options)  # type: ignore[arg-type]
        return
    # worker processes build the app themselves, from the environment
    os.environ["KPICTL_DATABASE_URL"] = settings.database_url
    os.environ["KPICTL_RANGES_DIR"] = str(settings.ranges_dir)
    uvicorn.run(
        "kpictl.serve.app:app_from_environment",
        factory=True,
        workers=workers,
        **options,  # type: ignore[arg-type]
    )
