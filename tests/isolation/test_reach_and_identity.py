"""What else the tenant role reaches, the identity of what policies call, what the
tenant sees of customers, and what the probe covers (issue 14 §1, PostgreSQL)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url
from kpictl.db.tenant import TENANT_ROLE
from tests.helpers.db import customer_ids, raw
from tests.helpers.isolation import failed, messages, report

ON_POSTGRESQL = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
SESSION_CUSTOMER = "NULLIF(current_setting('kpictl.customer_id', true), '')::integer"


def database(url: str) -> str:
    return url.rsplit("/", 1)[1]


# name: (SQL as the owner, {db} is the database's name; words the report must contain)
REACH_ATTACKS = {
    "revision history readable by PUBLIC": (
        ["GRANT SELECT ON range_revisions TO PUBLIC"],
        "kpictl_tenant has SELECT on table range_revisions",
    ),
    "revision history readable by the tenant": (
        [f"GRANT SELECT ON range_revisions TO {TENANT_ROLE}"],
        "kpictl_tenant has SELECT on table range_revisions",
    ),
    "some columns of the revision history": (
        [f"GRANT SELECT (scope, content) ON range_revisions TO {TENANT_ROLE}"],
        "kpictl_tenant has SELECT on table range_revisions",
    ),
    "a view by the owner over a tenant table": (
        [
            "CREATE VIEW every_observation AS SELECT * FROM kpi_observations",
            f"GRANT SELECT ON every_observation TO {TENANT_ROLE}",
        ],
        "kpictl_tenant has SELECT on view every_observation",
    ),
    "a materialized view for PUBLIC": (
        [
            "CREATE MATERIALIZED VIEW all_scores AS SELECT * FROM health_scores",
            "GRANT SELECT ON all_scores TO PUBLIC",
        ],
        "kpictl_tenant has SELECT on materialized view all_scores",
    ),
    "a SECURITY DEFINER function": (
        [
            "CREATE FUNCTION observations_of(c integer) RETURNS SETOF kpi_observations "
            "LANGUAGE sql SECURITY DEFINER AS "
            "'SELECT * FROM kpi_observations WHERE customer_id = c'"
        ],
        "may execute SECURITY DEFINER function observations_of(integer)",
    ),
    "a sequence": (
        [f"GRANT USAGE ON SEQUENCE kpi_observations_observation_id_seq TO {TENANT_ROLE}"],
        "kpictl_tenant has USAGE on sequence kpi_observations_observation_id_seq",
    ),
    "another schema": (
        ["CREATE SCHEMA side", f"GRANT USAGE, CREATE ON SCHEMA side TO {TENANT_ROLE}"],
        "kpictl_tenant has CREATE on schema side",
    ),
    "CREATE on the database": (
        ["GRANT CREATE ON DATABASE {db} TO " + TENANT_ROLE],
        "kpictl_tenant has CREATE on database",
    ),
    "a database default for the customer": (
        ["ALTER DATABASE {db} SET kpictl.customer_id = '1'"],
        "a default kpictl.customer_id=1 is set for every role in",
    ),
}


@ON_POSTGRESQL
@pytest.mark.parametrize("attack", list(REACH_ATTACKS))
def test_anything_the_tenant_reaches_beyond_its_tables_is_caught(seeded, attack) -> None:
    statements, expected = REACH_ATTACKS[attack]
    url = seeded.database_url
    with raw(url) as conn:
        for statement in statements:
            conn.execute(text(statement.replace("{db}", f'"{database(url)}"')))
    result = report(seeded)
    assert failed(result) == {"row_level_security"}, result.as_dict()
    assert expected in messages(result, "row_level_security")


@ON_POSTGRESQL
@pytest.mark.alters_tenant_role
def test_privileges_through_role_membership_and_a_role_default(seeded) -> None:
    url = seeded.database_url
    helper = f"kpictl_test_reader_{uuid.uuid4().hex[:8]}"
    try:
        with raw(url) as conn:
            conn.execute(text(f"CREATE ROLE {helper} NOLOGIN"))
            conn.execute(text(f"GRANT SELECT ON range_revisions TO {helper}"))
            conn.execute(text(f"GRANT {helper} TO {TENANT_ROLE}"))
            conn.execute(
                text(
                    f'ALTER ROLE {TENANT_ROLE} IN DATABASE "{database(url)}" '
                    "SET kpictl.customer_id = '2'"
                )
            )
        result = report(seeded)
    finally:
        with raw(url) as conn:
            conn.execute(text(f'ALTER ROLE {TENANT_ROLE} IN DATABASE "{database(url)}" RESET ALL'))
            conn.execute(text(f"REVOKE {helper} FROM {TENANT_ROLE}"))
            conn.execute(text(f"DROP OWNED BY {helper}"))
            conn.execute(text(f"DROP ROLE {helper}"))
    found = messages(result, "row_level_security")
    assert f"kpictl_tenant is a member of role {helper}" in found
    assert "kpictl_tenant has SELECT on table range_revisions" in found
    assert f"a default kpictl.customer_id=2 is set for {TENANT_ROLE} in" in found
    assert report(seeded).ok


@ON_POSTGRESQL
def test_a_look_alike_function_with_the_same_policy_text_is_caught(seeded) -> None:
    """The policy is re-created under a search_path that puts public first, calling a
    public.current_setting that makes one customer, outside the probed sample, read as
    another. Its deparsed text is kpictl's; its dependency is not pg_catalog's."""
    url = seeded.database_url
    ids = customer_ids(url)
    with raw(url) as conn:
        conn.execute(
            text(
                "INSERT INTO customers (slug, name, created_at) SELECT 'bulk-' || i, "
                "'Bulk', CURRENT_TIMESTAMP FROM generate_series(1, 40) AS i"
            )
        )
        attacker = conn.execute(
            text("SELECT customer_id FROM customers WHERE slug = 'bulk-17'")
        ).scalar_one()
        conn.execute(text(f'ALTER DATABASE "{database(url)}" SET search_path = public, pg_catalog'))
    victim = ids["acme"]
    engine = create_engine(driver_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:  # a new session: the database's search_path applies
            conn.execute(
                text(
                    "CREATE FUNCTION public.current_setting(name text, missing_ok boolean) "
                    "RETURNS text LANGUAGE sql STABLE AS $$ SELECT CASE WHEN "
                    f"pg_catalog.current_setting(name, missing_ok) = '{attacker}' THEN "
                    f"'{victim}' ELSE pg_catalog.current_setting(name, missing_ok) END $$"
                )
            )
            conn.execute(text("DROP POLICY kpictl_tenant_isolation ON kpi_observations"))
            conn.execute(
                text(
                    "CREATE POLICY kpictl_tenant_isolation ON kpi_observations AS PERMISSIVE "
                    f"FOR SELECT TO {TENANT_ROLE} USING (customer_id = {SESSION_CUSTOMER})"
                )
            )
            # the deparsed text is kpictl's under this search_path
            deparsed = conn.execute(
                text(
                    "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE "
                    "polrelid = 'kpi_observations'::regclass"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    from kpictl import isolation

    assert deparsed == isolation.POLICY_USING["kpi_observations"]
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    found = messages(result, "row_level_security")
    assert (
        "policy kpictl_tenant_isolation on kpi_observations uses "
        "function public.current_setting(name text, missing_ok boolean), not only built-in" in found
    )
    # and every customer is probed: the attacker's leak is seen for real
    assert "as customer bulk-17, SELECT * FROM kpi_observations returns" in found


@ON_POSTGRESQL
def test_the_tenant_sees_only_its_own_customer_row(seeded) -> None:
    url = seeded.database_url
    ids = customer_ids(url)
    with raw(url) as conn:
        conn.execute(text(f"SET LOCAL ROLE {TENANT_ROLE}"))
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 0
        conn.execute(
            text("SELECT set_config('kpictl.customer_id', :v, true)"), {"v": str(ids["acme"])}
        )
        rows = conn.execute(text("SELECT slug FROM customers")).scalars().all()
    assert rows == ["acme"]


@ON_POSTGRESQL
@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "DROP POLICY kpictl_tenant_isolation ON customers",
            "policy kpictl_tenant_isolation is missing on customers",
        ),
        (
            "ALTER TABLE customers DISABLE ROW LEVEL SECURITY",
            "row-level security is off on customers",
        ),
        (
            f"CREATE POLICY everyone ON customers FOR SELECT TO {TENANT_ROLE} USING (true)",
            "as customer acme, SELECT * FROM customers returns 2 rows of other customers",
        ),
    ],
)
def test_what_the_tenant_sees_of_customers_is_checked(seeded, statement, expected) -> None:
    with raw(seeded.database_url) as conn:
        conn.execute(text(statement))
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    assert expected in messages(result, "row_level_security")


@ON_POSTGRESQL
def test_the_probe_states_its_coverage_and_all_probes_every_customer(kpictl, seeded) -> None:
    url = seeded.database_url
    with raw(url) as conn:
        conn.execute(
            text(
                "INSERT INTO customers (slug, name, created_at) SELECT 'bulk-' || i, "
                "'Bulk', CURRENT_TIMESTAMP FROM generate_series(1, 30) AS i"
            )
        )
    sampled = json.loads(kpictl("verify-isolation", "-o", "json").stdout)
    note = sampled["checks"][-1]["note"]
    assert "10 customers spread over the ids" in note
    assert "a sample cannot find" in note and "--probe all" in note
    every = json.loads(kpictl("verify-isolation", "--probe", "all", "-o", "json").stdout)
    assert "every customer (33; --probe all)" in every["checks"][-1]["note"]
    named = json.loads(kpictl("verify-isolation", "-c", "acme", "-o", "json").stdout)
    assert "the 1 customer named with --customer" in named["checks"][-1]["note"]
    table = kpictl("verify-isolation").stdout
    assert "row_level_security: probed as kpictl_tenant" in " ".join(table.split())
    bad = kpictl("verify-isolation", "--probe", "some", expect=2)
    assert "error: --probe must be one of sample, all" in bad.stderr
