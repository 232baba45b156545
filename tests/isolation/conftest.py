"""Fixtures of the isolation tests: a seeded database with rows in every tenant table, and
the lock on the cluster-wide tenant role (their helpers: tests/helpers/db.py and
tests/helpers/isolation.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl import api
from kpictl.db.engine import driver_url
from kpictl.settings import Settings
from tests.helpers.db import is_pg, raw

# kpictl_tenant belongs to the whole PostgreSQL cluster, shared by every test database
# and by every test run at the same moment (several checkouts, CI jobs). A test that
# alters the role holds this lock exclusively; every other test here holds it shared,
# so none of them sees the role while it is altered. Advisory locks are per database:
# they are taken in the cluster's "postgres" database.
TENANT_ROLE_LOCK = 0x6B7069_0004


@pytest.fixture(autouse=True)
def _tenant_role_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    if "db_url" not in request.fixturenames:
        yield
        return
    db_url = request.getfixturevalue("db_url")
    if not is_pg(db_url):
        yield
        return
    exclusive = request.node.get_closest_marker("alters_tenant_role") is not None
    engine = create_engine(driver_url(db_url.rsplit("/", 1)[0] + "/postgres"), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            how = "" if exclusive else "_shared"
            conn.execute(text(f"SELECT pg_advisory_lock{how}(:k)"), {"k": TENANT_ROLE_LOCK})
            try:
                yield
            finally:
                conn.execute(text(f"SELECT pg_advisory_unlock{how}(:k)"), {"k": TENANT_ROLE_LOCK})
    finally:
        engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "alters_tenant_role: changes the cluster-wide kpictl_tenant role"
    )


@pytest.fixture
def seeded(db_url: str, ranges_dir: Path) -> Settings:
    """The shipped ranges applied, plus observations and scores for every customer, so
    every tenant table holds rows of several customers."""
    settings = Settings(database_url=db_url, ranges_dir=ranges_dir)
    api.seed(settings, all=True)
    with raw(db_url) as conn:
        conn.execute(
            text(
                "INSERT INTO kpi_observations (customer_id, kpi_name, observed_at, value) "
                "SELECT customer_id, 'error_rate_pct', CURRENT_TIMESTAMP, 1.5 FROM customers"
            )
        )
        conn.execute(
            text(
                "INSERT INTO kpi_observations (customer_id, kpi_name, observed_at, value) "
                "SELECT customer_id, 'p95_latency_ms', CURRENT_TIMESTAMP, 300 FROM customers"
            )
        )
        conn.execute(
            text(
                "INSERT INTO health_scores (customer_id, computed_at, model, score, status) "
                "SELECT customer_id, CURRENT_TIMESTAMP, 'ranges', 80, 'healthy' FROM customers"
            )
        )
    return settings
