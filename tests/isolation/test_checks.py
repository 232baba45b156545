"""Each check of verify-isolation against a fault injected through raw SQL, on every
backend where the fault can exist.

A fault is injected alone and the test asserts the exact set of failing checks. Where
injecting one fault needs a second (a duplicate row needs its unique constraint gone
first), the set names both, and says why.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from kpictl import isolation, store
from kpictl.db.schema import kpi_reference_ranges as R
from kpictl.db.tenant import TENANT_ROLE
from tests.helpers.db import (
    customer_ids,
    drop_uq_customer_kpi_name,
    insert_range,
    is_pg,
    range_id,
    raw,
    sqlite_rebuild,
)
from tests.helpers.isolation import failed, messages, report

POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgres)
ON_POSTGRESQL = pytest.mark.parametrize("db_url", [POSTGRESQL], indirect=True)
ON_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_the_checks_are_the_specs_in_its_order() -> None:
    assert list(isolation.CHECKS) == [
        "unique_customer_kpi",
        "unique_default_kpi",
        "no_orphan_rows",
        "schema_constraints",
        "effective_one_per_kpi",
        "no_foreign_rows",
        "row_level_security",
    ]


def test_a_clean_seeded_database_passes_every_check(seeded) -> None:
    result = report(seeded)
    assert result.ok, result.as_dict()
    assert [c.name for c in result.checks] == list(isolation.CHECKS)
    rls = result.check("row_level_security")
    if is_pg(seeded.database_url):
        assert rls.status == "passed"
        assert all(c.status == "passed" for c in result.checks)
    else:
        # SQLite has no row-level security: said so, never a fake pass
        assert rls.status == "skipped"
        assert "SQLite has no roles and no row-level security" in (rls.skipped or "")
        assert rls.as_dict()["skipped"] is True
        assert all(c.status == "passed" for c in result.checks if c is not rls)


def test_an_empty_database_passes(db_url) -> None:
    from kpictl.db import engine as db
    from kpictl.settings import Settings

    db.initialise(Settings(database_url=db_url))  # a read creates no schema (SPEC section 7)
    assert report(Settings(database_url=db_url)).ok


# -- unique_customer_kpi -------------------------------------------------------------


def test_a_duplicate_customer_kpi_pair(seeded) -> None:
    url = seeded.database_url
    acme = customer_ids(url)["acme"]
    with pytest.raises(IntegrityError), raw(url) as conn:
        insert_range(conn, acme, "daily_invocations")
    assert report(seeded).ok

    drop_uq_customer_kpi_name(url)
    first = range_id(url, "acme", "error_rate_pct")
    with raw(url) as conn:
        second = insert_range(conn, acme, "error_rate_pct")
    result = report(seeded)
    # the duplicate needed the constraint dropped (schema_constraints), and acme's
    # effective view now really holds error_rate_pct twice (effective_one_per_kpi)
    assert failed(result) == {
        "unique_customer_kpi",
        "schema_constraints",
        "effective_one_per_kpi",
    }
    (violation,) = result.check("unique_customer_kpi").violations
    assert violation.customer == "acme" and violation.customer_id == acme
    assert violation.kpi_name == "error_rate_pct"
    assert violation.row_ids == (first, second)
    assert f"range_id {first}, {second}" in violation.message
    assert "uq_customer_kpi_name" in messages(result, "schema_constraints")
    (twice,) = result.check("effective_one_per_kpi").violations
    assert (twice.customer, twice.kpi_name, twice.row_ids) == (
        "acme",
        "error_rate_pct",
        (first, second),
    )


# -- unique_default_kpi --------------------------------------------------------------


def test_the_database_refuses_a_second_default_for_a_kpi(seeded, db_snapshot) -> None:
    url = seeded.database_url
    before = db_snapshot(url)
    with pytest.raises(IntegrityError), raw(url) as conn:
        insert_range(conn, None, "error_rate_pct")
    assert db_snapshot(url) == before
    assert report(seeded).ok


def test_a_duplicate_default_once_its_guard_is_dropped(seeded) -> None:
    url = seeded.database_url
    if is_pg(url):
        drop_uq_customer_kpi_name(url)  # NULLS NOT DISTINCT lives on it
    else:
        with raw(url) as conn:
            conn.execute(text("DROP INDEX uq_default_kpi_name"))
    first = range_id(url, None, "monthly_spend")
    with raw(url) as conn:
        second = insert_range(conn, None, "monthly_spend")
    result = report(seeded)
    # data-center overrides monthly_spend; acme and globex take the default, so their
    # effective views now hold it twice
    assert failed(result) == {
        "unique_default_kpi",
        "schema_constraints",
        "effective_one_per_kpi",
    }
    (violation,) = result.check("unique_default_kpi").violations
    assert violation.customer is None and violation.kpi_name == "monthly_spend"
    assert violation.row_ids == (first, second)
    guard = "NULLS NOT DISTINCT, two system defaults" if is_pg(url) else "uq_default_kpi_name"
    assert guard in messages(result, "schema_constraints")
    twice = result.check("effective_one_per_kpi").violations
    assert {(v.customer, v.kpi_name) for v in twice} == {
        ("acme", "monthly_spend"),
        ("globex", "monthly_spend"),
    }


# -- no_orphan_rows ------------------------------------------------------------------

ORPHANS = {
    "kpi_reference_ranges": (
        "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, weight, updated_at) "
        "VALUES (999, 'error_rate_pct', 1, CURRENT_TIMESTAMP)",
        "range_id",
    ),
    "kpi_observations": (
        "INSERT INTO kpi_observations (customer_id, kpi_name, observed_at, value) "
        "VALUES (999, 'error_rate_pct', CURRENT_TIMESTAMP, 4)",
        "observation_id",
    ),
    "health_scores": (
        "INSERT INTO health_scores (customer_id, computed_at, model, score, status) "
        "VALUES (999, CURRENT_TIMESTAMP, 'ranges', 10, 'critical')",
        "score_id",
    ),
}


@pytest.mark.parametrize("table", list(ORPHANS))
def test_an_orphan_row(seeded, table) -> None:
    url = seeded.database_url
    insert, pk = ORPHANS[table]
    with raw(url) as conn:
        # the foreign key would refuse it (see the next test): switch it off
        if is_pg(url):
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.execute(text(insert))
        row = conn.execute(text(f"SELECT max({pk}) FROM {table}")).scalar_one()
    result = report(seeded)
    assert failed(result) == {"no_orphan_rows"}
    (violation,) = result.check("no_orphan_rows").violations
    assert (violation.table, violation.customer_id, violation.row_ids) == (table, 999, (row,))
    assert "customer_id 999, which is not in customers" in violation.message
    if table != "health_scores":
        assert violation.kpi_name == "error_rate_pct"


@pytest.mark.parametrize("table", list(ORPHANS))
def test_the_foreign_keys_refuse_an_orphan(db_url, table) -> None:
    from kpictl.db import engine as db
    from kpictl.settings import Settings

    with (
        db.open_database(Settings(database_url=db_url), write=True) as engine,
        pytest.raises(IntegrityError),
        engine.begin() as conn,
    ):
        conn.execute(text(ORPHANS[table][0]))


# -- schema_constraints --------------------------------------------------------------


def _pg_fk(conn, table: str) -> str:
    return conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype = 'f'"
        ),
        {"t": table},
    ).scalar_one()


def _drop_cascade(url: str) -> None:
    if is_pg(url):
        with raw(url) as conn:
            fk = _pg_fk(conn, "kpi_observations")
            conn.execute(text(f"ALTER TABLE kpi_observations DROP CONSTRAINT {fk}"))
            conn.execute(
                text(
                    "ALTER TABLE kpi_observations ADD FOREIGN KEY (customer_id) "
                    "REFERENCES customers (customer_id)"
                )
            )
    else:
        sqlite_rebuild(url, "kpi_observations", lambda sql: sql.replace(" ON DELETE CASCADE", ""))


def _drop_fk(url: str) -> None:
    if is_pg(url):
        with raw(url) as conn:
            fk = _pg_fk(conn, "health_scores")
            conn.execute(text(f"ALTER TABLE health_scores DROP CONSTRAINT {fk}"))
    else:
        sqlite_rebuild(
            url,
            "health_scores",
            lambda sql: sql.replace(
                ", \n\tFOREIGN KEY(customer_id) REFERENCES customers (customer_id) "
                "ON DELETE CASCADE",
                "",
            ),
        )


def _drop_uq_observation(url: str) -> None:
    if is_pg(url):
        with raw(url) as conn:
            conn.execute(text("ALTER TABLE kpi_observations DROP CONSTRAINT uq_observation"))
    else:
        sqlite_rebuild(
            url,
            "kpi_observations",
            lambda sql: sql.replace(
                "CONSTRAINT uq_observation UNIQUE (customer_id, kpi_name, observed_at), ", ""
            ),
        )


def _not_valid_fk(url: str) -> None:
    # re-added NOT VALID: rows already there are never checked against customers
    with raw(url) as conn:
        fk = _pg_fk(conn, "kpi_reference_ranges")
        conn.execute(text(f"ALTER TABLE kpi_reference_ranges DROP CONSTRAINT {fk}"))
        conn.execute(
            text(
                "ALTER TABLE kpi_reference_ranges ADD FOREIGN KEY (customer_id) "
                "REFERENCES customers (customer_id) ON DELETE CASCADE NOT VALID"
            )
        )


def _sql(statement: str):
    def run(url: str) -> None:
        with raw(url) as conn:
            conn.execute(text(statement))

    return run


SCHEMA_FAULTS = {
    "dropped index idx_ref_range_customer_kpi": (
        None,
        _sql("DROP INDEX idx_ref_range_customer_kpi"),
        "index idx_ref_range_customer_kpi on kpi_reference_ranges is missing",
    ),
    "dropped uq_customer_kpi_name": (
        None,
        lambda url: drop_uq_customer_kpi_name(url),
        "unique constraint uq_customer_kpi_name on kpi_reference_ranges is missing",
    ),
    "dropped uq_observation": (
        None,
        _drop_uq_observation,
        "kpi_observations has no unique constraint on (customer_id, kpi_name, observed_at)",
    ),
    "a foreign key without ON DELETE CASCADE": (
        None,
        _drop_cascade,
        "kpi_observations.customer_id references customers without ON DELETE CASCADE",
    ),
    "a dropped foreign key": (
        None,
        _drop_fk,
        "health_scores.customer_id has no foreign key to customers",
    ),
    "dropped partial index uq_default_kpi_name": (
        "sqlite",
        _sql("DROP INDEX uq_default_kpi_name"),
        "partial unique index uq_default_kpi_name",
    ),
    "uq_customer_kpi_name without NULLS NOT DISTINCT": (
        "postgresql",
        _sql(
            "ALTER TABLE kpi_reference_ranges DROP CONSTRAINT uq_customer_kpi_name, "
            "ADD CONSTRAINT uq_customer_kpi_name UNIQUE (customer_id, kpi_name)"
        ),
        "uq_customer_kpi_name is not NULLS NOT DISTINCT",
    ),
    "a foreign key NOT VALID": ("postgresql", _not_valid_fk, "is NOT VALID"),
}


def _fault_params():
    for fault, (backend, _inject, _expected) in SCHEMA_FAULTS.items():
        for name in [backend] if backend else ["sqlite", "postgresql"]:
            marks = [pytest.mark.postgres] if name == "postgresql" else []
            yield pytest.param(name, fault, marks=marks, id=f"{name}-{fault}")


@pytest.mark.parametrize(("db_url", "fault"), list(_fault_params()), indirect=["db_url"])
def test_a_schema_fault(seeded, fault) -> None:
    url = seeded.database_url
    _backend, inject, expected = SCHEMA_FAULTS[fault]
    inject(url)
    result = report(seeded)
    assert failed(result) == {"schema_constraints"}, result.as_dict()
    assert expected in messages(result, "schema_constraints")


@ON_SQLITE
def test_a_sqlite_partial_index_that_is_not_partial(seeded) -> None:
    url = seeded.database_url
    with raw(url) as conn:
        conn.execute(text("DROP INDEX uq_default_kpi_name"))
        conn.execute(text("CREATE INDEX uq_default_kpi_name ON kpi_reference_ranges (kpi_name)"))
    result = report(seeded)
    assert failed(result) == {"schema_constraints"}
    assert "is not UNIQUE (kpi_name) WHERE customer_id IS NULL" in messages(
        result, "schema_constraints"
    )


@ON_SQLITE
def test_sqlite_without_foreign_keys_fails_schema_constraints(seeded) -> None:
    url = seeded.database_url
    # a connection without kpictl's set-up: SQLite's default is foreign_keys=OFF
    with raw(url) as conn:
        result = isolation.run_checks(conn)
    assert failed(result) == {"schema_constraints"}
    assert "PRAGMA foreign_keys is OFF" in messages(result, "schema_constraints")


# -- effective_one_per_kpi and no_foreign_rows: a forgotten filter -------------------


def test_a_forgotten_customer_filter_is_caught(seeded, monkeypatch) -> None:
    """no_foreign_rows checks the predicate kpictl's scoped reads use: break it."""

    def forgotten(customer_id):  # every row: the customer filter forgotten
        return R.c.kpi_name.is_not(None)

    monkeypatch.setattr(store, "effective_range_filter", forgotten)
    result = report(seeded)
    assert {"no_foreign_rows", "effective_one_per_kpi"} <= failed(result)
    foreign = result.check("no_foreign_rows").violations
    ids = customer_ids(seeded.database_url)
    acme_row = range_id(seeded.database_url, "acme", "daily_invocations")
    assert any(
        v.customer == "globex" and v.row_ids == (acme_row,) and "customer acme" in v.message
        for v in foreign
    )
    assert all(v.customer_id in ids.values() for v in foreign)


# -- row_level_security (PostgreSQL) -------------------------------------------------


@ON_POSTGRESQL
def test_rls_disabled_on_a_table(seeded) -> None:
    with raw(seeded.database_url) as conn:
        conn.execute(text("ALTER TABLE kpi_observations DISABLE ROW LEVEL SECURITY"))
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    found = messages(result, "row_level_security")
    assert "row-level security is off on kpi_observations" in found
    assert "row_security_active('kpi_observations') is false" in found
    # the probe saw it for real: acme, reading as the tenant, gets other customers' rows
    leaks = [
        v
        for v in result.check("row_level_security").violations
        if v.customer == "acme" and "rows of other customers" in v.message
    ]
    assert len(leaks) == 1 and leaks[0].table == "kpi_observations" and leaks[0].row_ids


@ON_POSTGRESQL
def test_a_dropped_policy(seeded) -> None:
    with raw(seeded.database_url) as conn:
        conn.execute(text("DROP POLICY kpictl_tenant_isolation ON kpi_reference_ranges"))
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    found = messages(result, "row_level_security")
    assert "policy kpictl_tenant_isolation is missing on kpi_reference_ranges" in found
    # without a policy RLS admits nothing: the tenant's reads would silently be empty
    assert "under kpictl_tenant as customer acme, kpi_reference_ranges shows 0 of" in found


@ON_POSTGRESQL
def test_an_extra_policy_that_admits_everything_is_caught_by_the_probe(seeded) -> None:
    with raw(seeded.database_url) as conn:
        conn.execute(
            text(
                f"CREATE POLICY too_open ON health_scores FOR SELECT TO {TENANT_ROLE} USING (true)"
            )
        )
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    found = messages(result, "row_level_security")
    # the catalog side is intact: only the probe can see this
    assert "missing" not in found and "row_security_active" not in found
    assert "as customer acme, SELECT * FROM health_scores returns 2 rows of other" in found
    assert "as no customer, SELECT * FROM health_scores returns 3 rows" in found


@ON_POSTGRESQL
@pytest.mark.alters_tenant_role
def test_the_tenant_role_with_bypassrls(seeded) -> None:
    # the role is cluster-wide: give it back its NOBYPASSRLS whatever happens
    try:
        with raw(seeded.database_url) as conn:
            conn.execute(text(f"ALTER ROLE {TENANT_ROLE} BYPASSRLS"))
        result = report(seeded)
    finally:
        with raw(seeded.database_url) as conn:
            conn.execute(text(f"ALTER ROLE {TENANT_ROLE} NOBYPASSRLS"))
    assert failed(result) == {"row_level_security"}
    found = messages(result, "row_level_security")
    assert f"role {TENANT_ROLE} has BYPASSRLS" in found
    assert "row_security_active('kpi_reference_ranges') is false" in found
    assert "as customer globex, SELECT * FROM kpi_reference_ranges returns 12 rows" in found
    assert report(seeded).ok


@ON_POSTGRESQL
def test_the_tenant_role_owning_a_table(seeded) -> None:
    with raw(seeded.database_url) as conn:
        conn.execute(text(f"ALTER TABLE health_scores OWNER TO {TENANT_ROLE}"))
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    found = messages(result, "row_level_security")
    assert f"{TENANT_ROLE} owns health_scores" in found
    assert "SELECT * FROM health_scores returns" in found


@ON_POSTGRESQL
def test_the_tenant_role_without_read_access(seeded) -> None:
    with raw(seeded.database_url) as conn:
        conn.execute(text(f"REVOKE SELECT ON kpi_observations FROM {TENANT_ROLE}"))
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    found = messages(result, "row_level_security")
    assert f"{TENANT_ROLE} may not SELECT from kpi_observations" in found
    assert "the probe under kpictl_tenant failed: permission denied" in found


@ON_POSTGRESQL
def test_a_missing_tenant_role(seeded, monkeypatch) -> None:
    """The role is never dropped here (the cluster shares it): look for another name."""
    monkeypatch.setattr(isolation.rls, "TENANT_ROLE", "kpictl_no_such_role")
    result = report(seeded)
    assert failed(result) == {"row_level_security"}
    (violation,) = result.check("row_level_security").violations
    assert violation.message == (
        "role kpictl_no_such_role does not exist: tenant-scoped reads cannot run"
    )
