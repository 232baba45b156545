"""The tables of SPEC section 2, as SQLAlchemy Core metadata.

Core tables rather than ORM classes: every write is a bulk statement and every read a
set-based select, and importing the ORM would cost start-up time on each command.
The migrations under ``migrations/versions`` create exactly this schema; a test
compares the two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

metadata = MetaData()

TENANT_TABLES = ("kpi_reference_ranges", "kpi_observations", "health_scores")


def _customer_fk(nullable: bool) -> Column[int]:
    return Column(
        "customer_id",
        Integer,
        ForeignKey("customers.customer_id", ondelete="CASCADE"),
        nullable=nullable,
    )


customers = Table(
    "customers",
    metadata,
    Column("customer_id", Integer, primary_key=True),
    Column("slug", String(63), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("slug", name="uq_customers_slug"),
)

kpi_reference_ranges = Table(
    "kpi_reference_ranges",
    metadata,
    Column("range_id", Integer, primary_key=True),
    _customer_fk(nullable=True),
    Column("kpi_name", String(63), nullable=False),
    Column("critical_min", Double),
    Column("critical_max", Double),
    Column("risk_min", Double),
    Column("risk_max", Double),
    Column("healthy_min", Double),
    Column("healthy_max", Double),
    Column("weight", Double, nullable=False, server_default=text("1")),
    Column("playbook", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # NULLS NOT DISTINCT: two system defaults (customer_id NULL) for one KPI are refused.
    UniqueConstraint(
        "customer_id", "kpi_name", name="uq_customer_kpi_name", postgresql_nulls_not_distinct=True
    ),
    Index("idx_ref_range_customer_kpi", "customer_id", "kpi_name"),
    # SQLite has no NULLS NOT DISTINCT: a partial unique index does the same job there.
    Index(
        "uq_default_kpi_name",
        "kpi_name",
        unique=True,
        sqlite_where=text("customer_id IS NULL"),
    ).ddl_if(dialect="sqlite"),
)

range_revisions = Table(
    "range_revisions",
    metadata,
    Column("revision_id", Integer, primary_key=True),
    _customer_fk(nullable=True),
    Column("scope", String(63)),  # customer slug; NULL for the system defaults
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("catalog_sha256", String(64)),  # of the kpis.yaml the file was checked against
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("applied_by", Text, nullable=False),
    Column("adds", Integer, nullable=False, server_default=text("0")),
    Column("changes", Integer, nullable=False, server_default=text("0")),
    Column("removes", Integer, nullable=False, server_default=text("0")),
    Column("scoring", JSON),  # the file's scoring section: score from the database alone
    Column("content", JSON, nullable=False),  # normalised content, for drift and export
    Index("idx_range_revisions_scope", "customer_id", "revision_id"),
)

kpi_observations = Table(
    "kpi_observations",
    metadata,
    Column("observation_id", Integer, primary_key=True),
    _customer_fk(nullable=False),
    Column("kpi_name", String(63), nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("value", Double, nullable=False),
    UniqueConstraint("customer_id", "kpi_name", "observed_at", name="uq_observation"),
)

health_scores = Table(
    "health_scores",
    metadata,
    Column("score_id", Integer, primary_key=True),
    _customer_fk(nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("model", String(20), nullable=False),
    Column("score", Double, nullable=False),
    Column("status", String(20), nullable=False),
    Column("coverage", Double),  # 0-1; null for scores saved before it was recorded
    Index("idx_health_scores_customer", "customer_id", "computed_at"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", Integer, primary_key=True),
    _customer_fk(nullable=False),
    Column("token_hash", String(64), nullable=False),  # sha256 hex; the token is never stored
    Column("label", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True)),  # NULL: never
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    Index("idx_api_tokens_customer", "customer_id"),
)


def created_on(item: object, dialect_name: str) -> bool:
    """Whether the migrations create this schema item on a database of ``dialect_name``:
    False for an item declared for other dialects with ``ddl_if`` (the partial index
    ``uq_default_kpi_name`` is SQLite's; PostgreSQL enforces one default per KPI with
    NULLS NOT DISTINCT instead)."""
    condition = getattr(item, "_ddl_if", None)  # set by SchemaItem.ddl_if()
    wanted = getattr(condition, "dialect", None)
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return wanted == dialect_name
    return dialect_name in wanted


def include_object_for(dialect_name: str) -> Any:
    """Alembic's ``include_object`` hook for autogenerate on ``dialect_name``: the
    metadata's items that the migrations do not create on this dialect are left out, so
    that autogenerate compares the database with what it should hold there."""

    def include_object(
        item: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        return reflected or created_on(item, dialect_name)

    return include_object
