"""Record the coverage of each saved score: the share of the model's weight that had a
value (SPEC section 7). Nullable: scores saved before it have none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("health_scores", sa.Column("coverage", sa.Double))


def downgrade() -> None:
    with op.batch_alter_table("health_scores") as batch:
        batch.drop_column("coverage")
