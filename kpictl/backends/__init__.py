"""The databases kpictl supports, each behind :class:`~kpictl.backends.base.Backend`.

The one place that looks at which database a connection talks to: everything else
asks :func:`backend_of` and calls the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpictl.backends.base import Backend, JsonText, MergeCounts

if TYPE_CHECKING:
    from sqlalchemy import URL, Connection, Engine

__all__ = [
    "Backend",
    "JsonText",
    "MergeCounts",
    "backend_for",
    "backend_of",
]

_BACKENDS: dict[str, Backend] = {}


def backend_for(name: str) -> Backend:
    """The backend of a SQLAlchemy backend name (``sqlite``, ``postgresql``, other)."""
    found = _BACKENDS.get(name)
    if found is None:
        if name == "postgresql":
            from kpictl.backends.postgresql import PostgreSQLBackend

            found = PostgreSQLBackend()
        elif name == "sqlite":
            from kpictl.backends.sqlite import SQLiteBackend

            found = SQLiteBackend()
        else:
            found = Backend()  # the portable behaviour, under the database's own name
            found.name = name
        _BACKENDS[name] = found
    return found


def backend_of(bind: Connection | Engine | URL) -> Backend:
    """The backend of a connection, engine or URL."""
    from sqlalchemy import URL

    if isinstance(bind, URL):
        return backend_for(bind.get_backend_name())
    return backend_for(bind.dialect.name)
