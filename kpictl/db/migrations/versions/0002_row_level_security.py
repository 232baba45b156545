"""Row-level security on the tenant tables (PostgreSQL; nothing to do on SQLite).

A NOLOGIN role ``kpictl_tenant`` without BYPASSRLS may read the tenant tables; the
policies ``kpictl_tenant_isolation`` admit to it only the rows of the customer named by
the session setting ``kpictl.customer_id`` (ranges: plus the system defaults). With no
setting it sees the defaults and nothing else.

The DDL lives in ``kpictl.db.rls``, which ``kpictl adopt`` runs too: an adopted
database gets exactly the isolation of a fresh one. That module is frozen to what this
migration does.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from kpictl.db.rls import (
    CREATE_ROLE,
    POLICY,
    ROLE,
    SESSION_CUSTOMER,
    TENANT_TABLES,
    disable_row_level_security,
    enable_row_level_security,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The names tests and readers look for here.
_CREATE_ROLE = CREATE_ROLE
_SESSION_CUSTOMER = SESSION_CUSTOMER
__all__ = ["POLICY", "ROLE", "TENANT_TABLES"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no roles and no row-level security
    enable_row_level_security(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    disable_row_level_security(op.get_bind())
