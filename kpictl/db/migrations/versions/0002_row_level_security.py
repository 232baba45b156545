"""Row-level security on the tenant tables (PostgreSQL; nothing to do on SQLite).

A NOLOGIN role ``kpictl_tenant`` without BYPASSRLS may read the tenant tables; the
policies ``kpictl_tenant_isolation`` admit to it only the rows of the customer named by
the session setting ``kpictl.customer_id`` (ranges: plus the system defaults). With no
setting it sees the defaults and nothing else.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Written out rather than imported from kpictl.db.tenant: a migration is a snapshot and
# must keep doing what it did when it shipped.
ROLE = "kpictl_tenant"
POLICY = "kpictl_tenant_isolation"
TENANT_TABLES = ("kpi_reference_ranges", "kpi_observations", "health_scores")

# NULLIF: once set in a session, a custom setting reads '' (not NULL) after the
# transaction that set it ends; both mean "no customer". A non-integer fails the query.
_SESSION_CUSTOMER = "NULLIF(current_setting('kpictl.customer_id', true), '')::integer"
_ADMITS = {
    "kpi_reference_ranges": f"customer_id IS NULL OR customer_id = {_SESSION_CUSTOMER}",
    "kpi_observations": f"customer_id = {_SESSION_CUSTOMER}",
    "health_scores": f"customer_id = {_SESSION_CUSTOMER}",
}

# Roles belong to the cluster, not to the database: many databases (test databases,
# staging and production side by side) share one kpictl_tenant, and two of them may be
# initialised at the same moment. The existence test alone races; the loser of the race
# gets duplicate_object (or unique_violation on pg_authid) and carries on.
_CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{ROLE}') THEN
        BEGIN
            CREATE ROLE {ROLE} NOLOGIN NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    -- kpictl switches to the role with SET LOCAL ROLE, which needs membership
    -- (superusers are members of every role and skip this).
    IF NOT pg_has_role(current_user, '{ROLE}', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT {ROLE} TO %I', current_user);
        EXCEPTION WHEN unique_violation THEN
            NULL;
        END;
    END IF;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no roles and no row-level security
    op.execute(_CREATE_ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA {_current_schema()} TO {ROLE}")
    op.execute(f"GRANT SELECT ON customers, {', '.join(TENANT_TABLES)} TO {ROLE}")
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        # FOR SELECT only: with no policy for writes, RLS refuses every write by the
        # role even if someone grants it INSERT or UPDATE later.
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} AS PERMISSIVE FOR SELECT TO {ROLE} "
            f"USING ({_ADMITS[table]})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"REVOKE SELECT ON customers, {', '.join(TENANT_TABLES)} FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA {_current_schema()} FROM {ROLE}")
    # The role itself stays: it is cluster-wide and other databases may rely on it.


def _current_schema() -> str:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    assert schema is not None
    return str(schema)
