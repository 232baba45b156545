"""Write isolation on PostgreSQL (issue 14 §1): verify-isolation checks the tenant role's
table privileges and every policy for every command, and probes the writes the role
holds, each rolled back. Attacks as a hostile operator or migration would make them:
grants plus permissive write policies, for each command and each table."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from kpictl.db.tenant import TENANT_ROLE
from tests.helpers.db import customer_ids, raw
from tests.helpers.isolation import failed, messages, report

ON_POSTGRESQL = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
SESSION_CUSTOMER = "NULLIF(current_setting('kpictl.customer_id', true), '')::integer"
TABLES = ("kpi_reference_ranges", "kpi_observations", "health_scores")


def snapshot(url: str) -> dict[str, list]:
    with raw(url) as conn:
        return {
            t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
            for t in (*TABLES, "customers")
        }


# name: (SQL run as the table owner, words the report must contain)
WRITE_ATTACKS = {
    "UPDATE policy USING (true)": (
        [
            f"GRANT UPDATE ON kpi_observations TO {TENANT_ROLE}",
            f"CREATE POLICY w ON kpi_observations FOR UPDATE TO {TENANT_ROLE} USING (true)",
        ],
        [
            "policy w on kpi_observations lets kpictl_tenant UPDATE rows",
            "UPDATE kpi_observations (no WHERE) reaches",
        ],
    ),
    "UPDATE of one column, policy USING (true)": (
        [
            f"GRANT UPDATE (value) ON kpi_observations TO {TENANT_ROLE}",
            f"CREATE POLICY w ON kpi_observations FOR UPDATE TO {TENANT_ROLE} USING (true)",
        ],
        [
            "policy w on kpi_observations lets kpictl_tenant UPDATE rows",
            "UPDATE kpi_observations (no WHERE) reaches",
        ],
    ),
    "DELETE policy USING (true)": (
        [
            f"GRANT DELETE ON health_scores TO {TENANT_ROLE}",
            f"CREATE POLICY w ON health_scores FOR DELETE TO {TENANT_ROLE} USING (true)",
        ],
        [
            "policy w on health_scores lets kpictl_tenant DELETE rows",
            "DELETE FROM health_scores (no WHERE) reaches",
        ],
    ),
    "INSERT policy WITH CHECK (true)": (
        [
            f"GRANT INSERT ON kpi_observations TO {TENANT_ROLE}",
            f"CREATE POLICY w ON kpi_observations FOR INSERT TO {TENANT_ROLE} WITH CHECK (true)",
        ],
        [
            "lets kpictl_tenant INSERT rows",
            "INSERT INTO kpi_observations of a row for another customer is accepted",
        ],
    ),
    "INSERT of system defaults": (
        [
            f"GRANT INSERT ON kpi_reference_ranges TO {TENANT_ROLE}",
            f"CREATE POLICY w ON kpi_reference_ranges FOR INSERT TO {TENANT_ROLE} "
            f"WITH CHECK (customer_id IS NULL OR customer_id = {SESSION_CUSTOMER})",
        ],
        ["INSERT INTO kpi_reference_ranges of a row for another customer is accepted"],
    ),
    "UPDATE hands own rows to another customer": (
        [
            f"GRANT UPDATE ON health_scores TO {TENANT_ROLE}",
            f"CREATE POLICY w ON health_scores FOR UPDATE TO {TENANT_ROLE} "
            f"USING (customer_id = {SESSION_CUSTOMER}) WITH CHECK (true)",
        ],
        ["WITH CHECK true", "of the customer's rows to another customer"],
    ),
    "ALL policy to PUBLIC": (
        [
            f"GRANT INSERT, UPDATE, DELETE ON kpi_observations TO {TENANT_ROLE}",
            "CREATE POLICY w ON kpi_observations TO PUBLIC USING (true)",
        ],
        [
            "policy w on kpi_observations lets kpictl_tenant DELETE/INSERT/UPDATE rows",
            "DELETE FROM kpi_observations (no WHERE) reaches",
        ],
    ),
    "TRUNCATE granted": (
        [f"GRANT TRUNCATE ON kpi_observations TO {TENANT_ROLE}"],
        ["kpictl_tenant may TRUNCATE kpi_observations: TRUNCATE ignores row-level security"],
    ),
    "TRIGGER granted": (
        [f"GRANT TRIGGER ON health_scores TO {TENANT_ROLE}"],
        ["kpictl_tenant may TRIGGER health_scores"],
    ),
    "writes on customers": (
        [f"GRANT UPDATE, DELETE ON customers TO {TENANT_ROLE}"],
        ["kpictl_tenant may UPDATE customers", "kpictl_tenant may DELETE customers"],
    ),
}


@ON_POSTGRESQL
@pytest.mark.parametrize("attack", list(WRITE_ATTACKS))
def test_write_access_beyond_the_own_rows_is_caught(seeded, attack) -> None:
    statements, expected = WRITE_ATTACKS[attack]
    url = seeded.database_url
    with raw(url) as conn:
        for statement in statements:
            conn.execute(text(statement))
    before = snapshot(url)
    result = report(seeded)
    assert failed(result) == {"row_level_security"}, result.as_dict()
    found = messages(result, "row_level_security")
    for words in expected:
        assert words in found, found
    # every write of the probe was rolled back
    assert snapshot(url) == before


@ON_POSTGRESQL
def test_writes_granted_with_correct_policies_pass_and_are_probed(seeded) -> None:
    """Granted writes are allowed when the policies admit only the customer's own rows:
    the probe then writes for real (rolled back) and finds nothing wrong."""
    url = seeded.database_url
    with raw(url) as conn:
        for table in TABLES:
            conn.execute(text(f"GRANT INSERT, UPDATE, DELETE ON {table} TO {TENANT_ROLE}"))
            conn.execute(
                text(
                    f"CREATE POLICY own_writes ON {table} FOR UPDATE TO {TENANT_ROLE} "
                    f"USING (customer_id = {SESSION_CUSTOMER})"
                )
            )
            conn.execute(
                text(
                    f"CREATE POLICY own_deletes ON {table} FOR DELETE TO {TENANT_ROLE} "
                    f"USING (customer_id = {SESSION_CUSTOMER})"
                )
            )
            conn.execute(
                text(
                    f"CREATE POLICY own_inserts ON {table} FOR INSERT TO {TENANT_ROLE} "
                    f"WITH CHECK (customer_id = {SESSION_CUSTOMER})"
                )
            )
    before = snapshot(url)
    result = report(seeded, probe="all")
    assert result.ok, messages(result, "row_level_security")
    assert snapshot(url) == before


@ON_POSTGRESQL
def test_a_write_policy_for_one_customer_outside_any_sample_is_caught(seeded) -> None:
    """The write probe runs for every customer when the catalog shows a foreign policy."""
    url = seeded.database_url
    victim = customer_ids(url)["globex"]
    with raw(url) as conn:
        conn.execute(text(f"GRANT DELETE ON kpi_observations TO {TENANT_ROLE}"))
        conn.execute(
            text(
                f"CREATE POLICY w ON kpi_observations FOR DELETE TO {TENANT_ROLE} "
                f"USING (customer_id = {SESSION_CUSTOMER} OR {SESSION_CUSTOMER} = {victim})"
            )
        )
    result = report(seeded)
    found = messages(result, "row_level_security")
    assert "as customer globex, DELETE FROM kpi_observations (no WHERE) reaches" in found
