"""Row-level security on ``customers``: the tenant role sees its own customer row only.

Migration 0002 let ``kpictl_tenant`` read the whole ``customers`` table, and the role
is shared by every database of the cluster: a login granted the role for one kpictl
database could list the customers of another. kpictl's tenant-scoped reads never read
``customers`` (the customer is looked up before the scope is entered), so the policy
takes nothing from them. The owner kpictl connects as is not subject to it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from kpictl.db.rls import scope_customers

    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no roles and no row-level security
    scope_customers(op.get_bind())


def downgrade() -> None:
    from kpictl.db.rls import POLICY

    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON customers")
    op.execute("ALTER TABLE customers DISABLE ROW LEVEL SECURITY")
