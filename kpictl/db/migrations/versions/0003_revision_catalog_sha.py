"""Record the catalog's sha256 with each revision.

A seed recognises an unchanged range file by its recorded sha256 and skips parsing it,
but only while the catalog it was checked against is unchanged too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("range_revisions", sa.Column("catalog_sha256", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("range_revisions") as batch:
        batch.drop_column("catalog_sha256")
