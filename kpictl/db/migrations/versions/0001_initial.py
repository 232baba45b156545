"""The tables of SPEC section 2: customers, ranges, revisions, observations, scores.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _customer_id(nullable: bool) -> sa.Column:
    return sa.Column(
        "customer_id",
        sa.Integer,
        sa.ForeignKey("customers.customer_id", ondelete="CASCADE"),
        nullable=nullable,
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    now = sa.func.now()

    op.create_table(
        "customers",
        sa.Column("customer_id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.UniqueConstraint("slug", name="uq_customers_slug"),
    )
    op.create_table(
        "kpi_reference_ranges",
        sa.Column("range_id", sa.Integer, primary_key=True),
        _customer_id(nullable=True),
        sa.Column("kpi_name", sa.String(63), nullable=False),
        sa.Column("critical_min", sa.Double),
        sa.Column("critical_max", sa.Double),
        sa.Column("risk_min", sa.Double),
        sa.Column("risk_max", sa.Double),
        sa.Column("healthy_min", sa.Double),
        sa.Column("healthy_max", sa.Double),
        sa.Column("weight", sa.Double, nullable=False, server_default=sa.text("1")),
        sa.Column("playbook", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.UniqueConstraint(
            "customer_id",
            "kpi_name",
            name="uq_customer_kpi_name",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        "idx_ref_range_customer_kpi", "kpi_reference_ranges", ["customer_id", "kpi_name"]
    )
    if sqlite:
        op.create_index(
            "uq_default_kpi_name",
            "kpi_reference_ranges",
            ["kpi_name"],
            unique=True,
            sqlite_where=sa.text("customer_id IS NULL"),
        )
    op.create_table(
        "range_revisions",
        sa.Column("revision_id", sa.Integer, primary_key=True),
        _customer_id(nullable=True),
        sa.Column("scope", sa.String(63)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("applied_by", sa.Text, nullable=False),
        sa.Column("adds", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("changes", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("removes", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("scoring", sa.JSON),
        sa.Column("content", sa.JSON, nullable=False),
    )
    op.create_index("idx_range_revisions_scope", "range_revisions", ["customer_id", "revision_id"])
    op.create_table(
        "kpi_observations",
        sa.Column("observation_id", sa.Integer, primary_key=True),
        _customer_id(nullable=False),
        sa.Column("kpi_name", sa.String(63), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.UniqueConstraint("customer_id", "kpi_name", "observed_at", name="uq_observation"),
    )
    op.create_table(
        "health_scores",
        sa.Column("score_id", sa.Integer, primary_key=True),
        _customer_id(nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(20), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("idx_health_scores_customer", "health_scores", ["customer_id", "computed_at"])


def downgrade() -> None:
    for table in (
        "health_scores",
        "kpi_observations",
        "range_revisions",
        "kpi_reference_ranges",
        "customers",
    ):
        op.drop_table(table)
