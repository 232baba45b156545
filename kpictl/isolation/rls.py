"""The ``row_level_security`` check (PostgreSQL): catalog, reach, then the probe.

1. The catalog: row-level security on for ``customers`` and the tenant tables, the
   tenant role neither superuser nor BYPASSRLS nor owner, the privileges it holds on
   them, and every policy that applies to it (directly, through PUBLIC or a role it is
   a member of) for every command. A policy is compared by its expression as
   PostgreSQL deparses it, and every object it depends on (``pg_depend``) must be
   built in: a look-alike ``current_setting`` earlier on the search_path has the same
   text, not the same identity.
2. The reach: everything else the role can use in this database (:mod:`.reach`).
3. The probe, as the tenant, for reads and for the writes the role holds
   (:mod:`.probe`): for no customer and the selected customers; with ``--probe all``,
   or when the catalog cannot prove that the policies treat every customer alike,
   for every customer; else for ``PROBE_CUSTOMERS`` customers spread over the ids.

The check's note says which of these the probe did, and so what it proves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from kpictl.backends import backend_of
from kpictl.backends.sqlite import SQLiteBackend
from kpictl.db.schema import TENANT_TABLES
from kpictl.db.tenant import CUSTOMER_SETTING, POLICY_NAME, TENANT_ROLE
from kpictl.isolation import probe as probing
from kpictl.isolation.reach import beyond_intended
from kpictl.isolation.report import CheckResult, Violation

SQLITE_RLS_NOTE = SQLiteBackend.without_rls_note

PROBE_SAMPLE = probing.PROBE_SAMPLE
PROBE_CUSTOMERS = 10  # customers probed when the catalog proves the policies uniform

GUARDED_TABLES = (*TENANT_TABLES, "customers")

# Each kpictl policy's USING expression as PostgreSQL deparses what migrations 0002 and
# 0004 create. A policy that reads exactly so (and uses built-in objects only) treats
# every customer alike: the catalog then proves for all customers what the probe shows
# for a few.
_SESSION_CUSTOMER = (
    f"(NULLIF(current_setting('{CUSTOMER_SETTING}'::text, true), ''::text))::integer"
)
_OWN_ROWS = f"(customer_id = {_SESSION_CUSTOMER})"
POLICY_USING = {
    "kpi_reference_ranges": f"((customer_id IS NULL) OR (customer_id = {_SESSION_CUSTOMER}))",
    "kpi_observations": _OWN_ROWS,
    "health_scores": _OWN_ROWS,
    "customers": _OWN_ROWS,
}
# A write policy is correct when it admits the customer's own rows and nothing else (a
# tenant that could write the defaults would change every customer's ranges).
WRITE_USING = _OWN_ROWS

_COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}
# Privileges that row-level security does not govern at all, or that let the role
# change the table: never granted to the tenant.
_NEVER = ("TRUNCATE", "REFERENCES", "TRIGGER")

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
           -- INSERT, UPDATE and REFERENCES may be granted on some columns only
           ARRAY(SELECT x FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE',
                                            'REFERENCES', 'TRIGGER']) AS x
                 WHERE CASE WHEN x IN ('INSERT', 'UPDATE', 'REFERENCES')
                            THEN has_any_column_privilege(tr.oid, c.oid, x)
                            ELSE has_table_privilege(tr.oid, c.oid, x) END) AS role_writes,
           pg_has_role(current_user, tr.oid, 'MEMBER') AS checker_is_member,
           p.polname IS NOT NULL AS policy_exists,
           p.polpermissive,
           p.polcmd,
           ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
                 FROM unnest(p.polroles) AS r) AS policy_roles,
           tr.oid = ANY (p.polroles) AS policy_applies_to_role
    FROM unnest(CAST(:tables AS text[])) AS t(name)
    LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
    LEFT JOIN tenant tr ON true
    LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = :policy
    """
)

# Every policy on the guarded tables that applies to the tenant, for every command:
# its expressions as deparsed, and every object it depends on that is not built in
# (pg_depend records no dependency on built-in, pinned objects; the table itself and
# its columns are left out).
_POLICIES = text(
    """
    SELECT c.relname::text AS table_name, o.polname::text AS name, o.polcmd,
           o.polpermissive,
           pg_get_expr(o.polqual, o.polrelid) AS using_expr,
           pg_get_expr(o.polwithcheck, o.polrelid) AS check_expr,
           -- schema-qualified whatever the search_path: it is what is compared
           ARRAY(SELECT CASE
                     WHEN f.oid IS NOT NULL THEN
                         format('function %I.%I(%s)', fn.nspname, f.proname,
                                pg_get_function_identity_arguments(f.oid))
                     WHEN op.oid IS NOT NULL THEN
                         format('operator %I.%s(%s, %s)', opn.nspname, op.oprname,
                                format_type(op.oprleft, NULL), format_type(op.oprright, NULL))
                     ELSE pg_describe_object(d.refclassid, d.refobjid, 0) END
                 FROM pg_depend AS d
                 LEFT JOIN pg_proc AS f
                        ON d.refclassid = 'pg_proc'::regclass AND f.oid = d.refobjid
                 LEFT JOIN pg_namespace AS fn ON fn.oid = f.pronamespace
                 LEFT JOIN pg_operator AS op
                        ON d.refclassid = 'pg_operator'::regclass AND op.oid = d.refobjid
                 LEFT JOIN pg_namespace AS opn ON opn.oid = op.oprnamespace
                 WHERE d.classid = 'pg_policy'::regclass AND d.objid = o.oid
                   AND NOT (d.refclassid = 'pg_class'::regclass AND d.refobjid = o.polrelid)
                   AND COALESCE(f.pronamespace, op.oprnamespace, 0)
                       <> 'pg_catalog'::regnamespace
                 ORDER BY 1) AS foreign_objects
    FROM pg_policy AS o
    JOIN pg_class AS c ON c.oid = o.polrelid
    WHERE c.oid IN (SELECT to_regclass(n) FROM unnest(CAST(:tables AS text[])) AS n)
      AND (0 = ANY (o.polroles)
           OR EXISTS (SELECT FROM unnest(o.polroles) AS r
                      WHERE r <> 0 AND pg_has_role(:role, r, 'MEMBER')))
    ORDER BY c.relname, o.polname
    """
)


def row_level_security(
    conn: Connection, ids: list[int] | None, *, probe_all: bool = False
) -> CheckResult:
    """The catalog side, what else the role reaches, then the probe as the tenant.

    The probe runs for real under ``kpictl_tenant``, for no customer and for: the
    selected customers; else every customer when ``probe_all`` or when the catalog
    cannot prove that the policies treat all customers alike; else PROBE_CUSTOMERS
    customers spread over the ids. The catalog proves it when, on every guarded table,
    row-level security is off (then everyone sees everything) or the only policy
    filtering the tenant's SELECTs is kpictl's own, permissive, with exactly the
    migrations' expression and only built-in objects: it compares customer_id with the
    setting alone, so what one customer sees follows for every other.
    """
    name = "row_level_security"
    backend = backend_of(conn)
    if not backend.supports_rls:
        return CheckResult(
            name, skipped=backend.without_rls_note or f"not applicable: {backend.name}"
        )
    role = TENANT_ROLE
    violations: list[Violation] = []

    def fail(message: str, table: str | None = None) -> None:
        violations.append(Violation(message, table=table))

    catalog = conn.execute(
        _RLS_CATALOG, {"role": role, "policy": POLICY_NAME, "tables": list(GUARDED_TABLES)}
    ).all()
    first = catalog[0]
    role_exists = bool(first.role_exists)
    if not role_exists:
        fail(f"role {role} does not exist: tenant-scoped reads cannot run")
    else:
        if first.rolsuper:
            fail(f"role {role} is a superuser: it bypasses row-level security")
        if first.rolbypassrls:
            fail(f"role {role} has BYPASSRLS: it bypasses row-level security")
        if not first.checker_is_member:
            fail(
                f"{first.checker} is not a member of {role}: kpictl cannot switch to "
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
            fail(f"policy {POLICY_NAME} on {table} applies to {roles}, not {role}", table)
        elif not row.polpermissive or row.polcmd not in ("r", "*"):
            fail(f"policy {POLICY_NAME} on {table} is not a permissive SELECT policy", table)
        if role_exists:
            if row.role_acts_as_owner:
                fail(
                    f"{role} owns {table} (or is a member of its owner "
                    f"{row.owner}): owners bypass row-level security",
                    table,
                )
            if not row.role_can_select:
                fail(f"{role} may not SELECT from {table}: tenant reads fail", table)
            for privilege in row.role_writes:
                if privilege in _NEVER or table == "customers":
                    fail(
                        f"{role} may {privilege} {table}"
                        + (
                            ": TRUNCATE ignores row-level security"
                            if privilege == "TRUNCATE"
                            else ""
                        )
                        + "; kpictl's tenant scope only reads",
                        table,
                    )
    unproven: set[str] = set()
    if role_exists:
        writes = {row.table_name: set(row.role_writes or ()) for row in catalog}
        policies = conn.execute(_POLICIES, {"role": role, "tables": list(GUARDED_TABLES)}).all()
        for policy in policies:
            problems = _policy_problems(policy, role, writes.get(policy.table_name, set()))
            for message in problems:
                fail(message, policy.table_name)
            if policy.polcmd in ("r", "*") and (problems or not _is_kpictl_read(policy)):
                unproven.add(policy.table_name)
        violations.extend(beyond_intended(conn, role))
    note = None
    if role_exists and first.checker_is_member:
        uniform = not unproven and all(row.table_exists for row in catalog)
        params: dict[str, Any]
        if ids is not None:
            probed, params = probing.SELECTED_CUSTOMERS, {"ids": ids}
        elif probe_all or not uniform:
            probed, params = probing.ALL_CUSTOMERS, {}
        else:
            probed, params = probing.SPREAD_CUSTOMERS, {"n": PROBE_CUSTOMERS}
        result = probing.probe(conn, role, probed, params)
        violations.extend(result.violations)
        if not result.failed:
            note = _coverage(role, result.customers_probed, ids, probe_all, uniform)
    return CheckResult(name, tuple(violations), note=note)


def _is_kpictl_read(policy: Any) -> bool:
    """kpictl's own read policy, exactly as the migrations create it."""
    return bool(
        policy.name == POLICY_NAME
        and policy.polcmd == "r"
        and policy.polpermissive
        and policy.using_expr == POLICY_USING.get(policy.table_name)
        and policy.check_expr is None
        and not policy.foreign_objects
    )


def _policy_problems(policy: Any, role: str, writes: set[str]) -> list[str]:
    """What is wrong with one policy that applies to the tenant."""
    where = f"policy {policy.name} on {policy.table_name}"
    problems = []
    if policy.foreign_objects:
        problems.append(
            f"{where} uses {', '.join(policy.foreign_objects)}, not only built-in "
            "(pg_catalog) objects: its expression may read as kpictl's and mean another"
        )
    command = _COMMANDS.get(policy.polcmd, policy.polcmd)
    granted = writes if command == "ALL" else writes & {command}
    granted -= set(_NEVER)
    if policy.polpermissive and granted and policy.table_name != "customers":
        # A permissive write policy widens what the role may write: it must admit
        # the customer's own rows only, for the rows it reaches and the rows it makes.
        check = policy.check_expr if policy.check_expr is not None else policy.using_expr
        using_ok = policy.polcmd == "a" or policy.using_expr == WRITE_USING
        check_ok = policy.polcmd == "d" or check == WRITE_USING
        if not (using_ok and check_ok):
            problems.append(
                f"{where} lets {role} {'/'.join(sorted(granted))} rows "
                f"USING {policy.using_expr} WITH CHECK {check}, not only its own "
                f"customer's rows {WRITE_USING}"
            )
    return problems


def _coverage(role: str, probed: int, ids: list[int] | None, probe_all: bool, uniform: bool) -> str:
    """What the probe proves, in words: the check's note."""
    what = f"probed as {role} (reads, and the writes it holds): no customer and "
    if ids is not None:
        return (
            what + f"the {probed} customer{'s' if probed != 1 else ''} named with "
            "--customer; other customers were not probed"
        )
    if probe_all or not uniform:
        why = (
            "--probe all"
            if probe_all
            else "the catalog shows policies other than kpictl's own, so each customer "
            "may be treated differently"
        )
        return what + f"every customer ({probed}; {why})"
    return (
        what + f"{probed} customers spread over the ids. The catalog shows only kpictl's "
        "own policies, which compare customer_id with the session's customer and use "
        "only built-in functions, so they treat every customer alike and the sample "
        "stands for all; a sample cannot find what depends on the data of a customer it "
        "did not probe; --probe all probes every customer"
    )
