"""Row-level security on the tenant tables: the DDL of migration 0002, in one place.

Migration 0002 runs it on a fresh database and ``kpictl adopt`` on an adopted one, so an
adopted database is exactly as isolated as one that ``init`` created. A migration is a
snapshot: this function must keep doing what 0002 did when it shipped. A later change
to the policies belongs in a new migration (which ``adopt`` then runs too), not here.

A NOLOGIN role ``kpictl_tenant`` without BYPASSRLS may read the tenant tables; the
policies ``kpictl_tenant_isolation`` admit to it only the rows of the customer named by
the session setting ``kpictl.customer_id`` (ranges: plus the system defaults). With no
setting it sees the defaults and nothing else.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

ROLE = "kpictl_tenant"
POLICY = "kpictl_tenant_isolation"
TENANT_TABLES = ("kpi_reference_ranges", "kpi_observations", "health_scores")

# NULLIF: once set in a session, a custom setting reads '' (not NULL) after the
# transaction that set it ends; both mean "no customer". A non-integer fails the query.
SESSION_CUSTOMER = "NULLIF(current_setting('kpictl.customer_id', true), '')::integer"
ADMITS = {
    "kpi_reference_ranges": f"customer_id IS NULL OR customer_id = {SESSION_CUSTOMER}",
    "kpi_observations": f"customer_id = {SESSION_CUSTOMER}",
    "health_scores": f"customer_id = {SESSION_CUSTOMER}",
}

# Roles belong to the cluster, not to the database: many databases (test databases,
# staging and production side by side) share one kpictl_tenant, and two of them may be
# initialised at the same moment. The existence test alone races; the loser of the race
# gets duplicate_object (or unique_violation on pg_authid) and carries on.
CREATE_ROLE = f"""
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


def enable_row_level_security(conn: Connection) -> None:
    """Create the tenant role, grant it SELECT, enable RLS and the policies (PostgreSQL)."""
    schema = conn.exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    assert schema is not None
    conn.execute(text(CREATE_ROLE))
    conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {ROLE}"))
    conn.execute(text(f"GRANT SELECT ON customers, {', '.join(TENANT_TABLES)} TO {ROLE}"))
    for table in TENANT_TABLES:
        conn.execute(text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
        # FOR SELECT only: with no policy for writes, RLS refuses every write by the
        # role even if someone grants it INSERT or UPDATE later.
        conn.execute(
            text(
                f"CREATE POLICY {POLICY} ON {table} AS PERMISSIVE FOR SELECT TO {ROLE} "
                f"USING ({ADMITS[table]})"
            )
        )


def disable_row_level_security(conn: Connection) -> None:
    """Undo :func:`enable_row_level_security`; the role itself stays (it is cluster-wide)."""
    schema = conn.exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    for table in TENANT_TABLES:
        conn.execute(text(f"DROP POLICY IF EXISTS {POLICY} ON {table}"))
        conn.execute(text(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"))
    conn.execute(text(f"REVOKE SELECT ON customers, {', '.join(TENANT_TABLES)} FROM {ROLE}"))
    conn.execute(text(f"REVOKE USAGE ON SCHEMA {schema} FROM {ROLE}"))


def scope_customers(conn: Connection) -> None:
    """Row-level security on ``customers`` (migration 0005): the tenant role sees its own
    customer row only, so a login granted the cluster-wide role for one database cannot
    list the customers of every database it can reach. kpictl's tenant-scoped reads look
    the customer up before they enter the scope, so they lose nothing."""
    conn.execute(text("ALTER TABLE customers ENABLE ROW LEVEL SECURITY"))
    conn.execute(
        text(
            f"CREATE POLICY {POLICY} ON customers AS PERMISSIVE FOR SELECT TO {ROLE} "
            f"USING (customer_id = {SESSION_CUSTOMER})"
        )
    )
