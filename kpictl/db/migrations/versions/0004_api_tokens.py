"""API tokens of ``kpictl serve``: one row per token, only its sha256 stored.

A token belongs to one customer and goes with it (ON DELETE CASCADE). The tenant role
gets no privilege on the table: the server looks a token up as the connecting role,
before it switches to ``kpictl_tenant`` for the request's reads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.Integer, primary_key=True),
        sa.Column(
            "customer_id",
            sa.Integer,
            sa.ForeignKey("customers.customer_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    )
    op.create_index("idx_api_tokens_customer", "api_tokens", ["customer_id"])


def downgrade() -> None:
    op.drop_index("idx_api_tokens_customer", table_name="api_tokens")
    op.drop_table("api_tokens")
