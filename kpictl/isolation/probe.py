"""The probe of ``row_level_security``: the policies evaluated for real, as the tenant.

One statement, run under ``kpictl_tenant``, calls a temporary PL/pgSQL function once
per probed customer (and once with no customer). The function sets
``kpictl.customer_id`` and runs a plain ``SELECT`` on each table the policies guard, so
they are evaluated exactly as in a tenant-scoped read. Where the role holds INSERT,
UPDATE or DELETE on a table, it also tries the widest write of each kind (``UPDATE``
and ``DELETE`` without ``WHERE``, an ``INSERT`` for another customer), each in a
subtransaction it rolls back, and counts what the policies let through. The statement
compares what each probe saw and wrote with what is stored and returns only the probes
that differ. Everything runs in a savepoint that is rolled back: the functions, the
table of expected counts, the role, the setting and any write leave no trace.

The number of statements is fixed; the work grows with the customers probed (a sample
or all of them, see :mod:`kpictl.isolation.rls`), never a statement per customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy import exc as sa_exc

from kpictl.db.schema import TENANT_TABLES
from kpictl.db.tenant import CUSTOMER_SETTING, tenant_scope
from kpictl.isolation.report import PK, Violation, ids_text

# Row ids and owners named per violation, and probes named per table (the rest are
# counted): the counts are always exact.
PROBE_SAMPLE = 10

PROBED_TABLES = (*TENANT_TABLES, "customers")
_PROBE_PK = {**PK, "customers": "customer_id"}

# Run as the tenant: one write in a subtransaction that is always rolled back (by
# raising its own row count, SQLSTATE KP001). A write that row-level security (or a
# missing privilege) refuses raises insufficient_privilege: 0 rows. Any other error
# means the policies let it through and a constraint stopped it later: -1.
_TRY_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.kpictl_rls_try(statement text, arg integer)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    n bigint;
BEGIN
    BEGIN
        EXECUTE statement USING arg;
        GET DIAGNOSTICS n = ROW_COUNT;
        RAISE SQLSTATE 'KP001' USING MESSAGE = n::text;
    EXCEPTION
        WHEN SQLSTATE 'KP001' THEN RETURN SQLERRM::bigint;
        WHEN insufficient_privilege THEN RETURN 0;
        WHEN others THEN RETURN -1;
    END;
END
$fn$
"""

# Run as the tenant: the widest write of each kind the role holds on one table.
# UPDATE and DELETE have no WHERE and read no column, so only the policies for that
# command decide which rows they reach (a WHERE would bring the SELECT policies in).
# UPDATE also tries to take every row it reaches for the customer, and to hand the
# customer's rows to another one (only WITH CHECK stops that). INSERT tries a row for
# another customer and, on ranges, a system default (which every customer reads); the
# row id is given, as an attacker without the sequence would.
_WRITE_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.kpictl_rls_writes(tbl text, probe integer, other integer)
RETURNS TABLE (updated bigint, taken bigint, moved bigint, deleted bigint, inserted bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    reach text := CASE tbl WHEN 'kpi_reference_ranges' THEN 'playbook = NULL'
                           WHEN 'kpi_observations' THEN 'value = 0'
                           ELSE 'score = 0' END;
    ins text := CASE tbl
        WHEN 'kpi_reference_ranges' THEN
            'INSERT INTO kpi_reference_ranges (range_id, customer_id, kpi_name, weight, '
            'updated_at) VALUES (-2147483647, $1, ''kpictl-rls-probe'', 1, now())'
        WHEN 'kpi_observations' THEN
            'INSERT INTO kpi_observations (observation_id, customer_id, kpi_name, '
            'observed_at, value) VALUES (-2147483647, $1, ''kpictl-rls-probe'', now(), 0)'
        ELSE
            'INSERT INTO health_scores (score_id, customer_id, computed_at, model, score, '
            'status) VALUES (-2147483647, $1, now(), ''probe'', 0, ''probe'')' END;
BEGIN
    IF has_any_column_privilege(tbl, 'UPDATE') THEN
        updated := pg_temp.kpictl_rls_try(format('UPDATE %I SET ' || reach, tbl), NULL);
        IF probe IS NOT NULL THEN
            taken := pg_temp.kpictl_rls_try(
                format('UPDATE %I SET customer_id = $1', tbl), probe);
        END IF;
        IF probe IS NOT NULL AND other IS NOT NULL THEN
            moved := pg_temp.kpictl_rls_try(
                format('UPDATE %I SET customer_id = $1', tbl), other);
        END IF;
    END IF;
    IF has_table_privilege(tbl, 'DELETE') THEN
        deleted := pg_temp.kpictl_rls_try(format('DELETE FROM %I', tbl), NULL);
    END IF;
    IF has_any_column_privilege(tbl, 'INSERT') THEN
        inserted := 0;
        IF other IS NOT NULL AND pg_temp.kpictl_rls_try(ins, other) <> 0 THEN
            inserted := inserted + 1;
        END IF;
        IF tbl = 'kpi_reference_ranges' AND pg_temp.kpictl_rls_try(ins, NULL) <> 0 THEN
            inserted := inserted + 1;
        END IF;
    END IF;
    RETURN NEXT;
END
$fn$
"""

# Run as the tenant: for one probe customer (NULL: no setting), what a plain SELECT on
# each table returns (own rows, defaults, rows of others) and what its writes reached.
_PROBE_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.kpictl_rls_probe(probe integer, other integer)
RETURNS TABLE (table_name text, own bigint, defaults bigint, foreign_rows bigint,
               foreign_ids integer[], foreign_owners integer[], foreign_kpis text[],
               updated bigint, taken bigint, moved bigint, deleted bigint,
               inserted bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    w record;
BEGIN
    PERFORM set_config('{setting}', COALESCE(probe::text, ''), true);
    SELECT * INTO w FROM pg_temp.kpictl_rls_writes('kpi_reference_ranges', probe, other);
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
                              AND r.customer_id IS NOT NULL))[1:{sample}],
               w.updated, w.taken, w.moved, w.deleted, w.inserted
        FROM kpi_reference_ranges AS r;
    SELECT * INTO w FROM pg_temp.kpictl_rls_writes('kpi_observations', probe, other);
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
                    FILTER (WHERE o.customer_id IS DISTINCT FROM probe))[1:{sample}],
               w.updated, w.taken, w.moved, w.deleted, w.inserted
        FROM kpi_observations AS o;
    SELECT * INTO w FROM pg_temp.kpictl_rls_writes('health_scores', probe, other);
    RETURN QUERY
        SELECT 'health_scores'::text,
               count(*) FILTER (WHERE h.customer_id = probe),
               0::bigint,
               count(*) FILTER (WHERE h.customer_id IS DISTINCT FROM probe),
               (array_agg(h.score_id ORDER BY h.score_id)
                    FILTER (WHERE h.customer_id IS DISTINCT FROM probe))[1:{sample}],
               (array_agg(DISTINCT h.customer_id)
                    FILTER (WHERE h.customer_id IS DISTINCT FROM probe))[1:{sample}],
               NULL::text[],
               w.updated, w.taken, w.moved, w.deleted, w.inserted
        FROM health_scores AS h;
    RETURN QUERY
        SELECT 'customers'::text,
               count(*) FILTER (WHERE c.customer_id = probe),
               0::bigint,
               count(*) FILTER (WHERE c.customer_id IS DISTINCT FROM probe),
               (array_agg(c.customer_id ORDER BY c.customer_id)
                    FILTER (WHERE c.customer_id IS DISTINCT FROM probe))[1:{sample}],
               (array_agg(c.customer_id ORDER BY c.customer_id)
                    FILTER (WHERE c.customer_id IS DISTINCT FROM probe))[1:{sample}],
               NULL::text[],
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint
        FROM customers AS c;
END
$fn$
"""

# Who the probe runs as, read as the checker: the customers probed (no customer first)
# and, for each, what the tables really hold of theirs, and another customer to try
# writing for. A temporary table: the probe, which runs as the tenant, compares with it
# in SQL and returns only what differs. The savepoint around the probe drops it.
_PROBE_SET = """
CREATE TEMPORARY TABLE kpictl_rls_probe_set ON COMMIT DROP AS
SELECT p.customer_id, p.slug,
       (SELECT count(*) FROM kpi_reference_ranges AS t
        WHERE t.customer_id = p.customer_id) AS own_ranges,
       (SELECT count(*) FROM kpi_observations AS t
        WHERE t.customer_id = p.customer_id) AS own_observations,
       (SELECT count(*) FROM health_scores AS t
        WHERE t.customer_id = p.customer_id) AS own_scores,
       (SELECT count(*) FROM customers AS t
        WHERE t.customer_id = p.customer_id) AS own_customer,
       (SELECT count(*) FROM kpi_reference_ranges AS t
        WHERE t.customer_id IS NULL) AS defaults,
       COALESCE((SELECT min(t.customer_id) FROM customers AS t
                 WHERE t.customer_id > p.customer_id),
                (SELECT min(t.customer_id) FROM customers AS t
                 WHERE t.customer_id IS DISTINCT FROM p.customer_id)) AS other
FROM (SELECT NULL::integer AS customer_id, NULL::text AS slug
      UNION ALL {customers}) AS p
"""
SELECTED_CUSTOMERS = (
    "SELECT customer_id, slug::text FROM customers "
    "WHERE customer_id = ANY (CAST(:ids AS integer[]))"
)
ALL_CUSTOMERS = "SELECT customer_id, slug::text FROM customers"
# :n customers spread evenly over the range of ids, by n index lookups (not a scan)
SPREAD_CUSTOMERS = """
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

# Run as the tenant: every probe, compared in SQL with what is stored; only the probes
# that saw or wrote something wrong come back, the first :sample per table, each with
# the number of wrong probes of its table. A write may reach the customer's own rows
# (never the defaults) and nothing else.
_PROBE = text(
    """
    WITH seen AS (
        SELECT e.customer_id AS probe_id, e.slug AS probe_slug, p.*,
               CASE p.table_name WHEN 'kpi_reference_ranges' THEN e.own_ranges
                                 WHEN 'kpi_observations' THEN e.own_observations
                                 WHEN 'health_scores' THEN e.own_scores
                                 ELSE e.own_customer END AS expected_own,
               CASE p.table_name WHEN 'kpi_reference_ranges' THEN e.defaults
                                 ELSE 0 END AS expected_defaults
        FROM pg_temp.kpictl_rls_probe_set AS e
        CROSS JOIN LATERAL pg_temp.kpictl_rls_probe(e.customer_id, e.other) AS p
    ),
    wrong AS (
        SELECT seen.*,
               row_number() OVER (PARTITION BY table_name
                                  ORDER BY probe_id NULLS FIRST) AS nth,
               count(*) OVER (PARTITION BY table_name) AS wrong_probes
        FROM seen
        WHERE foreign_rows > 0 OR own <> expected_own OR defaults <> expected_defaults
           OR updated > expected_own OR updated < 0 OR moved <> 0
           OR taken > expected_own OR taken < 0
           OR deleted > expected_own OR deleted < 0
           OR inserted > 0
    )
    SELECT * FROM wrong WHERE nth <= :sample ORDER BY table_name, nth
    """
)
_PROBED = "SELECT count(*) - 1 FROM pg_temp.kpictl_rls_probe_set"  # no customer is one


@dataclass(frozen=True, slots=True)
class ProbeResult:
    violations: list[Violation]
    customers_probed: int
    failed: bool = False  # the probe itself could not run


def probe(conn: Connection, role: str, probed: str, params: dict[str, Any]) -> ProbeResult:
    """Run the probe as ``role`` for the customers the SQL ``probed`` selects."""
    savepoint = conn.begin_nested()
    try:
        # psycopg2 reads % as a parameter marker: format()'s %I is written %%I
        conn.exec_driver_sql(_TRY_FUNCTION)
        conn.exec_driver_sql(_WRITE_FUNCTION.replace("%", "%%"))
        conn.exec_driver_sql(
            _PROBE_FUNCTION.replace("{setting}", CUSTOMER_SETTING).replace(
                "{sample}", str(PROBE_SAMPLE)
            )
        )
        conn.execute(text(_PROBE_SET.replace("{customers}", probed)), params)
        conn.exec_driver_sql(f"GRANT SELECT ON pg_temp.kpictl_rls_probe_set TO {role}")
        customers_probed = int(conn.exec_driver_sql(_PROBED).scalar() or 0)
        with tenant_scope(conn, None):
            rows = conn.execute(_PROBE, {"sample": PROBE_SAMPLE}).all()
            active = conn.execute(
                text(
                    "SELECT name, row_security_active(name) AS active "
                    "FROM unnest(CAST(:tables AS text[])) AS name"
                ),
                {"tables": list(PROBED_TABLES)},
            ).all()
    except sa_exc.DBAPIError as exc:
        detail = str(exc.orig or exc).strip().splitlines()[0]
        return ProbeResult([Violation(f"the probe under {role} failed: {detail}")], 0, True)
    finally:
        # drops the functions and the probe set, undoes the role, the setting, the writes
        savepoint.rollback()
    violations = [
        Violation(
            f"row_security_active('{row.name}') is false under {role}: its reads "
            "of this table are not filtered",
            table=row.name,
        )
        for row in active
        if not row.active
    ]
    for row in rows:
        violations.extend(_probe_violations(row, role))
        if row.nth == PROBE_SAMPLE and row.wrong_probes > PROBE_SAMPLE:
            violations.append(
                Violation(
                    f"under {role}, {row.table_name} also shows wrong rows to "
                    f"{row.wrong_probes - PROBE_SAMPLE} more probed customers (only the "
                    f"first {PROBE_SAMPLE} are listed)",
                    table=row.table_name,
                )
            )
    return ProbeResult(violations, customers_probed)


def _probe_violations(row: Any, role: str) -> list[Violation]:
    """What one probe saw wrong on one table: foreign rows, missing own rows or
    defaults, writes that reached beyond the customer's own rows."""
    who = f"customer {row.probe_slug}" if row.probe_id is not None else "no customer"

    def seen(what: str, **details: Any) -> Violation:
        return Violation(
            f"under {role} as {who}, {what}",
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
                + f"; {_PROBE_PK[row.table_name]} {ids_text(row.foreign_ids or [])}{sample})",
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
    own = f"the customer's {row.expected_own}" if row.probe_id is not None else "none"
    for count, what in (
        (row.updated, f"UPDATE {row.table_name} (no WHERE)"),
        (row.taken, f"UPDATE {row.table_name} SET customer_id = <the customer> (no WHERE)"),
        (row.deleted, f"DELETE FROM {row.table_name} (no WHERE)"),
    ):
        if count is not None and count < 0:
            violations.append(
                seen(f"{what} was let through by row-level security and failed on a constraint")
            )
        elif count is not None and count > row.expected_own:
            violations.append(seen(f"{what} reaches {count} rows, not only {own}"))
    if row.moved:
        violations.append(
            seen(
                f"UPDATE {row.table_name} SET customer_id = <another customer> "
                + (
                    "was let through by row-level security and failed on a constraint"
                    if row.moved < 0
                    else f"hands {row.moved} of the customer's rows to another customer"
                )
            )
        )
    if row.inserted:
        violations.append(
            seen(f"INSERT INTO {row.table_name} of a row for another customer is accepted")
        )
    return violations
