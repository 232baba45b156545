"""Alembic environment: kpictl always hands over an open connection."""

from __future__ import annotations

from alembic import context

from kpictl.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - kpictl never runs Alembic without one
    raise RuntimeError("kpictl migrations run through 'kpictl init' (no connection given)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
