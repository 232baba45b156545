"""Row-level security on ``customers``: the tenant role sees its own customer row only.

Migration 0002 let ``kpictl_tenant`` read the whole ``customers`` table, and the role
is shared by every database of the cluster: a login granted the role for one kpictl
database could list the customers of another. kpictl's tenant-scoped reads never read
``customers`` (the customer is looked up before the scope is entered), so the policy
takes nothing from them. The owner kpictl connects as is not subject to it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Written out rather than imported from kpictl.db.tenant: a migration is a snapshot.
ROLE = "kpictl_tenant"
POLICY = "kpictl_tenant_isolation"
_SESSION_CUSTOMER = "NULLIF(current_setting('kpictl.customer_id', true), '')::integer"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no roles and no row-level security
    op.execute("ALTER TABLE customers ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {POLICY} ON customers AS PERMISSIVE FOR SELECT TO {ROLE} "
        f"USING (customer_id = {_SESSION_CUSTOMER})"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON customers")
    op.execute("ALTER TABLE customers DISABLE ROW LEVEL SECURITY")
