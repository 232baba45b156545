"""Everything the tenant role can reach in this database, beyond what it needs.

A tenant-scoped read needs: USAGE on kpictl's schema and SELECT on ``customers`` and
the three tenant tables, each guarded by kpictl's policy (checked in
:mod:`kpictl.isolation.rls`). One statement lists whatever else the role reaches,
directly, through PUBLIC or through the roles it is a member of:

- any privilege on any other table, view, materialized view, foreign table or
  sequence (``range_revisions`` holds every customer's full ranges and has no policy),
  including column privileges;
- SECURITY DEFINER functions and procedures it may execute (they run as their owner,
  which row-level security does not filter). Functions that run as the caller
  (SECURITY INVOKER) can do nothing the role cannot do itself, which this check
  enumerates, and PostgreSQL lets PUBLIC execute every function by default: they are
  not listed;
- CREATE on any schema (a look-alike function or table could be put on the search
  path) or on the database. USAGE on a schema gives nothing by itself (what is in it
  is listed above) and PostgreSQL grants USAGE on ``public`` to PUBLIC: not listed;
- membership of another role;
- a default for ``kpictl.customer_id`` set with ALTER DATABASE or ALTER ROLE (for this
  database or all): a session that forgets to set it would read as that customer.

System schemas (pg_catalog, information_schema, pg_toast, temporary schemas) are not
listed: PostgreSQL grants their use to every role.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from kpictl.db.schema import TENANT_TABLES
from kpictl.db.tenant import CUSTOMER_SETTING
from kpictl.isolation.report import Violation

INTENDED_TABLES = ("customers", *TENANT_TABLES)

_REACH = text(
    """
    WITH tenant AS (SELECT oid FROM pg_roles WHERE rolname = :role),
    intended AS (SELECT to_regclass(n) AS oid FROM unnest(CAST(:intended AS text[])) AS n),
    ordinary AS (
        SELECT n.oid, n.nspname FROM pg_namespace n
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
    ),
    relations AS (
        SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                              WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table'
                              ELSE 'table' END AS kind,
               c.oid::regclass::text AS name,
               ARRAY(SELECT p FROM unnest(CASE WHEN c.relkind = 'S'
                                               THEN ARRAY['USAGE', 'SELECT', 'UPDATE']
                                               ELSE ARRAY['SELECT', 'INSERT', 'UPDATE',
                                                          'DELETE', 'TRUNCATE', 'REFERENCES',
                                                          'TRIGGER'] END) AS p
                     WHERE CASE WHEN c.relkind = 'S'
                                THEN has_sequence_privilege(t.oid, c.oid, p)
                                WHEN p IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                                THEN has_any_column_privilege(t.oid, c.oid, p)
                                ELSE has_table_privilege(t.oid, c.oid, p) END) AS privileges
        FROM pg_class c
        JOIN ordinary n ON n.oid = c.relnamespace
        CROSS JOIN tenant t
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND c.oid NOT IN (SELECT oid FROM intended WHERE oid IS NOT NULL)
    )
    SELECT kind, name, array_to_string(privileges, ', ') AS what
    FROM relations WHERE cardinality(privileges) > 0
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'SECURITY DEFINER procedure'
                          ELSE 'SECURITY DEFINER function' END,
           p.oid::regprocedure::text, 'EXECUTE'
    FROM pg_proc p JOIN ordinary n ON n.oid = p.pronamespace CROSS JOIN tenant t
    WHERE p.prosecdef AND has_function_privilege(t.oid, p.oid, 'EXECUTE')
    UNION ALL
    SELECT 'schema', quote_ident(n.nspname), 'CREATE'
    FROM ordinary n CROSS JOIN tenant t
    WHERE has_schema_privilege(t.oid, n.oid, 'CREATE')
    UNION ALL
    SELECT 'database', quote_ident(current_database()), 'CREATE'
    FROM tenant t WHERE has_database_privilege(t.oid, current_database(), 'CREATE')
    UNION ALL
    SELECT 'role', quote_ident(r.rolname), 'MEMBER'
    FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
    WHERE m.member = (SELECT oid FROM tenant)
    UNION ALL
    SELECT 'setting',
           CASE WHEN s.setrole = 0 THEN 'every role' ELSE quote_ident(r.rolname) END
           || ' in ' ||
           CASE WHEN s.setdatabase = 0 THEN 'every database'
                ELSE quote_ident(current_database()) END,
           cfg
    FROM pg_db_role_setting s
    CROSS JOIN unnest(s.setconfig) AS cfg
    LEFT JOIN pg_roles r ON r.oid = s.setrole
    WHERE cfg LIKE :setting || '=%'
      AND s.setdatabase IN (0, (SELECT oid FROM pg_database
                                WHERE datname = current_database()))
    ORDER BY 1, 2
    """
)


def beyond_intended(conn: Connection, role: str) -> list[Violation]:
    """What ``role`` can reach in this database beyond a tenant-scoped read's needs."""
    rows = conn.execute(
        _REACH,
        {
            "role": role,
            "intended": list(INTENDED_TABLES),
            "setting": CUSTOMER_SETTING,
        },
    ).all()
    violations = []
    for row in rows:
        if row.kind == "setting":
            message = (
                f"a default {row.what} is set for {row.name} (ALTER ROLE/DATABASE ... SET): "
                "a session that forgets to set the customer reads as that one"
            )
        elif row.kind == "role":
            message = f"{role} is a member of role {row.name}: it has that role's privileges"
        elif row.kind.startswith("SECURITY DEFINER"):
            message = (
                f"{role} may execute {row.kind} {row.name}, which runs as its owner "
                "unfiltered by row-level security"
            )
        else:
            message = (
                f"{role} has {row.what} on {row.kind} {row.name}, outside what a "
                "tenant-scoped read needs"
            )
        table = row.name if row.kind in ("table", "view", "materialized view") else None
        violations.append(Violation(message, table=table))
    return violations
