"""verify-isolation at more than a handful of customers: the row-level security probe
runs for a sample when the catalog proves the policies treat every customer alike, for
every customer when it cannot, and names a bounded number of the probes that went
wrong; the unique checks name every row of a pair."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from kpictl import isolation
from kpictl.db.tenant import TENANT_ROLE
from tests.helpers.db import customer_ids, drop_uq_customer_kpi_name, insert_range, range_id, raw
from tests.helpers.isolation import failed, messages, report

ON_POSTGRESQL = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

# 300 more customers, each with an observation and a score (bulk SQL, not a seed each)
MORE_CUSTOMERS = [
    "INSERT INTO customers (slug, name, created_at) "
    "SELECT 'bulk-' || i, 'Bulk ' || i, CURRENT_TIMESTAMP FROM generate_series(1, 300) AS i",
    "INSERT INTO kpi_observations (customer_id, kpi_name, observed_at, value) "
    "SELECT customer_id, 'error_rate_pct', CURRENT_TIMESTAMP, 2 FROM customers "
    "WHERE slug LIKE 'bulk-%'",
    "INSERT INTO health_scores (customer_id, computed_at, model, score, status) "
    "SELECT customer_id, CURRENT_TIMESTAMP, 'ranges', 50, 'risk' FROM customers "
    "WHERE slug LIKE 'bulk-%'",
]
SESSION_CUSTOMER = "NULLIF(current_setting('kpictl.customer_id', true), '')::integer"


def add_customers(url: str) -> int:
    with raw(url) as conn:
        for statement in MORE_CUSTOMERS:
            conn.execute(text(statement))
        return conn.execute(text("SELECT count(*) FROM customers")).scalar_one()


def leaks(result, table: str) -> list:
    return [
        v
        for v in result.check("row_level_security").violations
        if v.table == table and "rows of other customers" in v.message
    ]


@ON_POSTGRESQL
def test_a_policy_hole_for_one_customer_outside_the_sample_is_found(seeded, monkeypatch) -> None:
    """An edited policy may treat one customer unlike the others: the catalog cannot
    prove it uniform, so every customer is probed, not only the sample."""
    url = seeded.database_url
    add_customers(url)
    monkeypatch.setattr(isolation.rls, "PROBE_CUSTOMERS", 2)  # the lowest and highest ids
    victim = customer_ids(url)["bulk-150"]
    with raw(url) as conn:
        conn.execute(text("DROP POLICY kpictl_tenant_isolation ON kpi_observations"))
        conn.execute(
            text(
                "CREATE POLICY kpictl_tenant_isolation ON kpi_observations AS PERMISSIVE "
                f"FOR SELECT TO {TENANT_ROLE} USING (customer_id = {SESSION_CUSTOMER} "
                f"OR {SESSION_CUSTOMER} = {victim})"
            )
        )
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    (leak,) = leaks(result, "kpi_observations")
    assert (leak.customer, leak.customer_id) == ("bulk-150", victim)
    # the catalog side holds: the policy exists, is permissive and applies to the role
    assert len(result.check("row_level_security").violations) == 1


@ON_POSTGRESQL
def test_with_the_policies_as_created_a_sample_is_probed(seeded) -> None:
    """RLS switched off leaks to every customer alike: the probe shows it for no
    customer and a sample of customers, not for each of the 300."""
    url = seeded.database_url
    add_customers(url)
    with raw(url) as conn:
        conn.execute(text("ALTER TABLE kpi_observations DISABLE ROW LEVEL SECURITY"))
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    assert "row-level security is off on kpi_observations" in messages(result, "row_level_security")
    found = leaks(result, "kpi_observations")
    assert 2 <= len(found) <= isolation.PROBE_CUSTOMERS + 1
    assert any(v.customer is None for v in found)  # the probe with no customer
    assert not any("more probed customers" in v.message for v in found)


@ON_POSTGRESQL
def test_probes_that_went_wrong_are_named_up_to_a_bound(seeded) -> None:
    """An extra policy admits everything: every customer is probed, all of them see
    foreign rows; the first PROBE_SAMPLE are named, the rest counted."""
    url = seeded.database_url
    total = add_customers(url)
    with raw(url) as conn:
        conn.execute(
            text(
                f"CREATE POLICY too_open ON health_scores FOR SELECT TO {TENANT_ROLE} USING (true)"
            )
        )
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    assert len(leaks(result, "health_scores")) == isolation.PROBE_SAMPLE
    more = total + 1 - isolation.PROBE_SAMPLE  # every customer, and no customer
    assert (
        f"under {TENANT_ROLE}, health_scores also shows wrong rows to {more} more probed "
        "customers" in messages(result, "row_level_security")
    )


def test_a_pair_three_times_names_every_row(seeded) -> None:
    url = seeded.database_url
    acme = customer_ids(url)["acme"]
    drop_uq_customer_kpi_name(url)
    first = range_id(url, "acme", "error_rate_pct")
    with raw(url) as conn:
        second = insert_range(conn, acme, "error_rate_pct")
        third = insert_range(conn, acme, "error_rate_pct")
    result = report(seeded)
    (violation,) = result.check("unique_customer_kpi").violations
    assert violation.row_ids == (first, second, third)
    assert "has 3 rows for KPI error_rate_pct" in violation.message
    (twice,) = result.check("effective_one_per_kpi").violations
    assert twice.row_ids == (first, second, third)
