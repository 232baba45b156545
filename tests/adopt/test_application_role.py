"""On PostgreSQL the application's own connecting role keeps every privilege it had:
whether it owns the tables or was granted its privileges on them, after adoption it
reads every row, writes and deletes as before; row-level security restricts
kpictl_tenant only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

ON_POSTGRESQL = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
TABLES = ("customers", "kpi_reference_ranges")


@pytest.fixture
def app_role(db_url: str, helpers) -> Iterator[str]:
    """A LOGIN role of the application's own (roles are cluster-wide: dropped at the end,
    with what it owns in the test database handed back first)."""
    name = f"legacy_app_{uuid.uuid4().hex[:10]}"
    helpers.execute(db_url, f"CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS")
    try:
        yield name
    finally:
        helpers.execute(
            db_url, f"REASSIGN OWNED BY {name} TO CURRENT_USER", f"DROP OWNED BY {name}"
        )
        helpers.execute(db_url, f"DROP ROLE {name}")


def _as(db_url: str, role: str) -> str:
    """The same database, connecting as ``role`` (trust authentication in the tests)."""
    scheme, rest = db_url.split("://", 1)
    return f"{scheme}://{role}@{rest.split('@', 1)[1]}"


def _privileges(helpers, db_url: str, role: str) -> dict[tuple[str, str], bool]:
    out = {}
    for table in TABLES:
        for privilege in PRIVILEGES:
            rows = helpers.execute(
                db_url,
                "SELECT has_table_privilege(:r, :t, :p)",
                params={"r": role, "t": table, "p": privilege},
            )
            out[(table, privilege)] = bool(rows[0][0])
    sequences = helpers.execute(
        db_url,
        "SELECT c.relname, has_sequence_privilege(:r, c.oid, 'USAGE') FROM pg_class c "
        "WHERE c.relkind = 'S' AND c.relname IN "
        "('customers_customer_id_seq', 'kpi_reference_ranges_range_id_seq')",
        params={"r": role},
    )
    out.update({(name, "USAGE"): bool(ok) for name, ok in sequences})
    return out


def _adopt_and_check(db_url: str, role: str, legacy, cli, helpers, *, kept_by_policy: bool):
    app_url = _as(db_url, role)
    privileges = _privileges(helpers, db_url, role)
    answers = legacy.answers(app_url)
    assert sum(v is not None for v in answers.values()) > 10
    assert legacy.add_and_remove_range(app_url, 2, "monthly_spend")[1:4] == (2, "monthly_spend", N)

    plan = cli("adopt", "--yes")
    keep = f"policy kpictl_keep_{role} on kpi_reference_ranges FOR ALL TO {role}"
    assert (keep in plan.stdout) is kept_by_policy, plan.stdout

    assert _privileges(helpers, db_url, role) == privileges
    assert legacy.answers(app_url) == answers  # it still sees every row, through its model
    assert legacy.add_and_remove_range(app_url, 2, "monthly_spend")[1:4] == (2, "monthly_spend", N)
    report = json.loads(cli("verify-isolation", "-o", "json").stdout)
    assert report["ok"], report
    rls = next(c for c in report["checks"] if c["name"] == "row_level_security")
    assert rls["ok"] and not rls.get("skipped"), rls


N = None


@ON_POSTGRESQL
def test_the_role_that_owns_the_tables_keeps_its_privileges(
    db_url, app_role, legacy, cli, helpers
) -> None:
    database = db_url.rsplit("/", 1)[1]
    helpers.execute(db_url, f'ALTER DATABASE "{database}" OWNER TO {app_role}')
    legacy.create_and_seed(_as(db_url, app_role))  # db.create_all() as the application
    owner = helpers.execute(
        db_url, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'customers'"
    )
    assert owner[0][0] == app_role
    _adopt_and_check(db_url, app_role, legacy, cli, helpers, kept_by_policy=False)


@ON_POSTGRESQL
def test_a_role_granted_the_tables_keeps_its_privileges(
    db_url, app_role, legacy, cli, helpers
) -> None:
    legacy.create_and_seed(db_url)
    helpers.execute(
        db_url,
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON customers, kpi_reference_ranges TO {app_role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app_role}",
    )
    _adopt_and_check(db_url, app_role, legacy, cli, helpers, kept_by_policy=True)
    # and kpictl_tenant still sees only what its policy admits
    report = json.loads(cli("verify-isolation", "-o", "json").stdout)
    assert all(c["ok"] for c in report["checks"])


@ON_POSTGRESQL
def test_a_grant_to_public_is_named_in_the_plan(db_url, legacy, cli, helpers) -> None:
    legacy.create_and_seed(db_url)
    helpers.execute(db_url, "GRANT SELECT ON kpi_reference_ranges TO PUBLIC")
    plan = cli("adopt")
    assert "note: PUBLIC holds SELECT on kpi_reference_ranges" in plan.stdout
