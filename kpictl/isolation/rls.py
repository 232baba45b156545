"""The ``row_level_security`` check (PostgreSQL): the catalog, then the probe.

The check reads the catalogs and then probes the policies for real: one statement,
run under ``kpictl_tenant``, calls a temporary PL/pgSQL function once per probed
customer (and once with no customer). The function sets ``kpictl.customer_id`` and
runs a plain ``SELECT`` on each tenant table, so the policies are evaluated exactly as
in a tenant-scoped read; the statement compares what each probe saw with what is
stored and returns only the probes that differ. When the catalog shows the policies
exactly as migration 0002 creates them, they treat every customer alike and a sample
of customers is probed; otherwise every customer is (see :func:`row_level_security`).
The probe runs in a savepoint that is rolled back: the function, its table of
expected counts, the role and the setting leave no trace.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy import exc as sa_exc

from kpictl.db import engine as db
from kpictl.db.schema import TENANT_TABLES
from kpictl.db.tenant import CUSTOMER_SETTING, POLICY_NAME, TENANT_ROLE, tenant_scope
from kpictl.isolation.report import PK, SQLITE_RLS_NOTE, CheckResult, Violation, ids_text

# Each kpictl policy's USING expression as PostgreSQL deparses what migration 0002
# creates. A policy that reads exactly so treats every customer alike: the catalog then
# proves for all customers what the probe shows for a few (see row_level_security).
_SESSION_CUSTOMER = (
    f"(NULLIF(current_setting('{CUSTOMER_SETTING}'::text, true), ''::text))::integer"
)
POLICY_USING = {
    "kpi_reference_ranges": f"((customer_id IS NULL) OR (customer_id = {_SESSION_CUSTOMER}))",
    "kpi_observations": f"(customer_id = {_SESSION_CUSTOMER})",
    "health_scores": f"(customer_id = {_SESSION_CUSTOMER})",
}

_RLS_CATALOG = text(
    """
    WITH tenant AS (
        SELECT oid, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role
    )
    SELECT t.name AS table_name,
           c.oid IS NOT NULL AS table_exists,
           c.relrowsecurity,
           pg_get_userbyid(c.relowner) AS owner,
           row_security_active(c.oid) AS active_for_checker,
           current_user AS checker,
           tr.oid IS NOT NULL AS role_exists,
           tr.rolsuper, tr.rolbypassrls,
           pg_has_role(tr.oid, c.relowner, 'USAGE') AS role_acts_as_owner,
           has_table_privilege(tr.oid, c.oid, 'SELECT') AS role_can_select,
           pg_has_role(current_user, tr.oid, 'MEMBER') AS checker_is_member,
           p.polname IS NOT NULL AS policy_exists,
           p.polpermissive,
           p.polcmd,
           ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
                 FROM unnest(p.polroles) AS r) AS policy_roles,
           tr.oid = ANY (p.polroles) AS policy_applies_to_role,
           -- the policies that filter the tenant's SELECTs, but kpictl's own one when it
           -- is permissive and reads exactly as migration 0002 wrote it
           ARRAY(SELECT o.polname::text
                 FROM pg_policy AS o
                 WHERE o.polrelid = c.oid
                   AND o.polcmd IN ('r', '*')
                   AND (0 = ANY (o.polroles)
                        OR EXISTS (SELECT FROM unnest(o.polroles) AS r
                                   WHERE r <> 0 AND pg_has_role(tr.oid, r, 'MEMBER')))
                   AND NOT (o.polname = :policy AND o.polpermissive
                            AND pg_get_expr(o.polqual, o.polrelid) = t.expected_using)
                 ORDER BY o.polname) AS unproven_policies
    FROM unnest(CAST(:tables AS text[]), CAST(:using AS text[])) AS t(name, expected_using)
    LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
    LEFT JOIN tenant tr ON true
    LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = :policy
    """
)

# Run as kpictl_tenant: for one probe customer (NULL: no setting), what a plain SELECT on
# each tenant table returns: own rows, defaults, and any row of another customer.
_PROBE_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.kpictl_rls_probe(probe integer)
RETURNS TABLE (table_name text, own bigint, defaults bigint, foreign_rows bigint,
               foreign_ids integer[], foreign_owners integer[], foreign_kpis text[])
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM set_config('{setting}', COALESCE(probe::text, ''), true);
    RETURN QUERY
        SELECT 'kpi_reference_ranges'::text,
               count(*) FILTER (WHERE r.customer_id = probe),
               count(*) FILTER (WHERE r.customer_id IS NULL),
               count(*) FILTER (WHERE r.customer_id IS DISTINCT FROM probe
                                  AND r.customer_id IS NOT NULL),
               (array_agg(r.range_id ORDER BY r.range_id)
                    FILTER (WHERE r.customer_id IS DISTINCT FROM probe
                              AND r.customer_id IS NOT NULL))[1:{sample}],
               (array_agg(DISTINCT r.customer_id)
                    FILTER (WHERE r.customer_id IS DISTINCT FROM probe
                              AND r.customer_id IS NOT NULL))[1:{sample}],
               (array_agg(DISTINCT r.kpi_name::text)
                    FILTER (WHERE r.customer_id IS DISTINCT FROM probe
                              AND r.customer_id IS NOT NULL))[1:{sample}]
        FROM kpi_reference_ranges AS r;
    RETURN QUERY
        SELECT 'kpi_observations'::text,
               count(*) FILTER (WHERE o.customer_id = probe),
               0::bigint,
               count(*) FILTER (WHERE o.customer_id IS DISTINCT FROM probe),
               (array_agg(o.observation_id ORDER BY o.observation_id)
                    FILTER (WHERE o.customer_id IS DISTINCT FROM probe))[1:{sample}],
               (array_agg(DISTINCT o.customer_id)
                    FILTER (WHERE o.customer_id IS DISTINCT FROM probe))[1:{sample}],
               (array_agg(DISTINCT o.kpi_name::text)
                    FILTER (WHERE o.customer_id IS DISTINCT FROM probe))[1:{sample}]
        FROM kpi_observations AS o;
    RETURN QUERY
        SELECT 'health_scores'::text,
               count(*) FILTER (WHERE h.customer_id = probe),
               0::bigint,
               count(*) FILTER (WHERE h.customer_id IS DISTINCT FROM probe),
               (array_agg(h.score_id ORDER BY h.score_id)
                    FILTER (WHERE h.customer_id IS DISTINCT FROM probe))[1:{sample}],
               (array_agg(DISTINCT h.customer_id)
                    FILTER (WHERE h.customer_id IS DISTINCT FROM probe))[1:{sample}],
               NULL::text[]
        FROM health_scores AS h;
END
$fn$
"""
# Row ids and owners named per violation, and probes named per table (the rest are
# counted): the counts are always exact.
PROBE_SAMPLE = 10
PROBE_CUSTOMERS = 10  # customers probed when the catalog proves the policies uniform

# Who the probe runs as, read as the checker: the customers probed (no customer first)
# and, for each, what the tenant tables really hold of theirs. A temporary table: the
# probe, which runs as the tenant, compares with it in SQL and returns only what
# differs. The savepoint around the probe drops it.
_PROBE_SET = """
CREATE TEMPORARY TABLE kpictl_rls_probe_set ON COMMIT DROP AS
SELECT p.customer_id, p.slug,
       (SELECT count(*) FROM kpi_reference_ranges AS t
        WHERE t.customer_id = p.customer_id) AS own_ranges,
       (SELECT count(*) FROM kpi_observations AS t
        WHERE t.customer_id = p.customer_id) AS own_observations,
       (SELECT count(*) FROM health_scores AS t
        WHERE t.customer_id = p.customer_id) AS own_scores,
       (SELECT count(*) FROM kpi_reference_ranges AS t
        WHERE t.customer_id IS NULL) AS defaults
FROM (SELECT NULL::integer AS customer_id, NULL::text AS slug
      UNION ALL {customers}) AS p
"""
_SELECTED_CUSTOMERS = (
    "SELECT customer_id, slug::text FROM customers "
    "WHERE customer_id = ANY (CAST(:ids AS integer[]))"
)
_ALL_CUSTOMERS = "SELECT customer_id, slug::text FROM customers"
# :n customers spread evenly over the range of ids, by n index lookups (not a scan)
_SPREAD_CUSTOMERS = """
SELECT DISTINCT c.customer_id, c.slug::text
FROM (SELECT min(customer_id)::bigint AS lo, max(customer_id)::bigint AS hi
      FROM customers) AS b
CROSS JOIN generate_series(0, :n - 1) AS i
CROSS JOIN LATERAL (
    SELECT customer_id, slug FROM customers
    WHERE customer_id >= b.lo + (b.hi - b.lo) * i / greatest(:n - 1, 1)
    ORDER BY customer_id LIMIT 1
) AS c
"""

# Run as kpictl_tenant: every probe, compared in SQL with what is stored; only the
# probes that saw something wrong come back, the first :sample per table, each with
# the number of wrong probes of its table.
_PROBE = text(
    """
    WITH seen AS (
        SELECT e.customer_id AS probe_id, e.slug AS probe_slug, p.table_name, p.own,
               p.defaults, p.foreign_rows, p.foreign_ids, p.foreign_owners, p.foreign_kpis,
               CASE p.table_name WHEN 'kpi_reference_ranges' THEN e.own_ranges
                                 WHEN 'kpi_observations' THEN e.own_observations
                                 ELSE e.own_scores END AS expected_own,
               CASE p.table_name WHEN 'kpi_reference_ranges' THEN e.defaults
                                 ELSE 0 END AS expected_defaults
        FROM pg_temp.kpictl_rls_probe_set AS e
        CROSS JOIN LATERAL pg_temp.kpictl_rls_probe(e.customer_id) AS p
    ),
    wrong AS (
        SELECT seen.*,
               row_number() OVER (PARTITION BY table_name
                                  ORDER BY probe_id NULLS FIRST) AS nth,
               count(*) OVER (PARTITION BY table_name) AS wrong_probes
        FROM seen
        WHERE foreign_rows > 0 OR own <> expected_own OR defaults <> expected_defaults
    )
    SELECT * FROM wrong WHERE nth <= :sample ORDER BY table_name, nth
    """
)


def row_level_security(conn: Connection, ids: list[int] | None) -> CheckResult:
    """The catalog side (RLS on, the policies, the role), then the probe as the tenant.

    The probe runs for real under ``kpictl_tenant``, for no customer and for: the
    selected customers; else every customer, unless the catalog proves that the policies
    treat all customers alike, and then for PROBE_CUSTOMERS customers spread over the
    ids. The catalog proves it when, on every tenant table, row-level security is off
    (then everyone sees everything) or the only policy filtering the tenant's SELECTs
    is kpictl's own, permissive, with exactly migration 0002's expression: it compares
    customer_id with the setting alone, so what one customer sees follows for every
    other. An extra or restrictive policy, or an edited expression, and every customer
    is probed.
    """
    name = "row_level_security"
    if db.is_sqlite(conn):
        return CheckResult(name, skipped=SQLITE_RLS_NOTE)
    if not db.is_postgresql(conn):
        return CheckResult(name, skipped=f"not applicable: {conn.dialect.name}")
    violations: list[Violation] = []

    def fail(message: str, table: str | None = None) -> None:
        violations.append(Violation(message, table=table))

    catalog = conn.execute(
        _RLS_CATALOG,
        {
            "role": TENANT_ROLE,
            "policy": POLICY_NAME,
            "tables": list(TENANT_TABLES),
            "using": [POLICY_USING[t] for t in TENANT_TABLES],
        },
    ).all()
    first = catalog[0]
    role_exists = bool(first.role_exists)
    if not role_exists:
        fail(f"role {TENANT_ROLE} does not exist: tenant-scoped reads cannot run")
    else:
        if first.rolsuper:
            fail(f"role {TENANT_ROLE} is a superuser: it bypasses row-level security")
        if first.rolbypassrls:
            fail(f"role {TENANT_ROLE} has BYPASSRLS: it bypasses row-level security")
        if not first.checker_is_member:
            fail(
                f"{first.checker} is not a member of {TENANT_ROLE}: kpictl cannot switch to "
                "it for tenant-scoped reads"
            )
    for row in catalog:
        table = row.table_name
        if not row.table_exists:
            fail(f"table {table} does not exist", table)
            continue
        if not row.relrowsecurity:
            fail(f"row-level security is off on {table}", table)
        if row.active_for_checker:
            fail(
                f"{row.checker}, which runs these checks, is itself subject to row-level "
                f"security on {table}: the checks would see only the rows it may read",
                table,
            )
        if not row.policy_exists:
            fail(f"policy {POLICY_NAME} is missing on {table}", table)
        elif role_exists and not row.policy_applies_to_role:
            roles = ", ".join(row.policy_roles) or "nobody"
            fail(f"policy {POLICY_NAME} on {table} applies to {roles}, not {TENANT_ROLE}", table)
        elif not row.polpermissive or row.polcmd not in ("r", "*"):
            fail(f"policy {POLICY_NAME} on {table} is not a permissive SELECT policy", table)
        if role_exists:
            if row.role_acts_as_owner:
                fail(
                    f"{TENANT_ROLE} owns {table} (or is a member of its owner "
                    f"{row.owner}): owners bypass row-level security",
                    table,
                )
            if not row.role_can_select:
                fail(f"{TENANT_ROLE} may not SELECT from {table}: tenant reads fail", table)
    if role_exists and first.checker_is_member:
        uniform = all(
            row.table_exists and (not row.relrowsecurity or not row.unproven_policies)
            for row in catalog
        )
        violations.extend(_probe(conn, ids, every_customer=not uniform))
    return CheckResult(name, tuple(violations))


def _probe(conn: Connection, ids: list[int] | None, *, every_customer: bool) -> list[Violation]:
    """Run the probe as the tenant role; what it sees, compared with what is stored."""
    params: dict[str, Any]
    if ids is not None:
        probed, params = _SELECTED_CUSTOMERS, {"ids": ids}
    elif every_customer:
        probed, params = _ALL_CUSTOMERS, {}
    else:
        probed, params = _SPREAD_CUSTOMERS, {"n": PROBE_CUSTOMERS}
    savepoint = conn.begin_nested()
    try:
        conn.exec_driver_sql(
            _PROBE_FUNCTION.replace("{setting}", CUSTOMER_SETTING).replace(
                "{sample}", str(PROBE_SAMPLE)
            )
        )
        conn.execute(text(_PROBE_SET.replace("{customers}", probed)), params)
        conn.exec_driver_sql(f"GRANT SELECT ON pg_temp.kpictl_rls_probe_set TO {TENANT_ROLE}")
        with tenant_scope(conn, None):
            wrong = conn.execute(_PROBE, {"sample": PROBE_SAMPLE}).all()
            active = conn.execute(
                text(
                    "SELECT name, row_security_active(name) AS active "
                    "FROM unnest(CAST(:tables AS text[])) AS name"
                ),
                {"tables": list(TENANT_TABLES)},
            ).all()
    except sa_exc.DBAPIError as exc:
        detail = str(exc.orig or exc).strip().splitlines()[0]
        return [Violation(f"the probe under {TENANT_ROLE} failed: {detail}")]
    finally:
        # drops the probe function and the probe set, undoes the role and the setting
        savepoint.rollback()
    violations = [
        Violation(
            f"row_security_active('{row.name}') is false under {TENANT_ROLE}: its reads "
            "of this table are not filtered",
            table=row.name,
        )
        for row in active
        if not row.active
    ]
    for row in wrong:
        violations.extend(_probe_violations(row))
        if row.nth == PROBE_SAMPLE and row.wrong_probes > PROBE_SAMPLE:
            violations.append(
                Violation(
                    f"under {TENANT_ROLE}, {row.table_name} also shows wrong rows to "
                    f"{row.wrong_probes - PROBE_SAMPLE} more probed customers (only the "
                    f"first {PROBE_SAMPLE} are listed)",
                    table=row.table_name,
                )
            )
    return violations


def _probe_violations(row: Any) -> list[Violation]:
    """What one probe saw wrong on one table: foreign rows, missing own rows or defaults."""
    who = f"customer {row.probe_slug}" if row.probe_id is not None else "no customer"

    def seen(what: str, **details: Any) -> Violation:
        return Violation(
            f"under {TENANT_ROLE} as {who}, {what}",
            table=row.table_name,
            customer=row.probe_slug,
            customer_id=row.probe_id,
            **details,
        )

    violations = []
    if row.foreign_rows:
        owners = ", ".join(str(o) for o in row.foreign_owners or [])
        kpis = list(row.foreign_kpis or [])
        sample = " (first ones)" if row.foreign_rows > len(row.foreign_ids or []) else ""
        violations.append(
            seen(
                f"SELECT * FROM {row.table_name} returns {row.foreign_rows} rows of other "
                f"customers (customer_id {owners}"
                + (f"; KPIs {', '.join(kpis)}" if kpis else "")
                + f"; {PK[row.table_name]} {ids_text(row.foreign_ids or [])}{sample})",
                kpi_name=kpis[0] if len(kpis) == 1 else None,
                row_ids=tuple(row.foreign_ids or ()),
            )
        )
    # the policies must also admit what is the tenant's: else its reads silently fall
    # back to defaults or see nothing
    if row.own != row.expected_own:
        violations.append(
            seen(f"{row.table_name} shows {row.own} of the customer's {row.expected_own} rows")
        )
    if row.defaults != row.expected_defaults:
        violations.append(
            seen(
                f"{row.table_name} shows {row.defaults} of the {row.expected_defaults} "
                "system defaults"
            )
        )
    return violations
