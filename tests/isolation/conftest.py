"""Helpers of the isolation tests: a seeded database with rows in every tenant table,
raw SQL to inject faults, and the report's failed checks."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from kpictl import api, isolation
from kpictl.db.engine import driver_url
from kpictl.settings import Settings


@contextmanager
def raw(db_url: str) -> Iterator[Connection]:
    """A plain connection in one transaction, as a user with psql would have: no kpictl
    connection set-up (on SQLite: foreign keys off, SQLite's default)."""
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def is_pg(db_url: str) -> bool:
    return db_url.startswith("postgresql")


def customer_ids(db_url: str) -> dict[str, int]:
    with raw(db_url) as conn:
        return dict(conn.execute(text("SELECT slug, customer_id FROM customers")).all())  # type: ignore[arg-type]


def range_id(db_url: str, slug: str | None, kpi: str) -> int:
    with raw(db_url) as conn:
        if slug is None:
            sql = (
                "SELECT range_id FROM kpi_reference_ranges "
                "WHERE customer_id IS NULL AND kpi_name = :k"
            )
            return conn.execute(text(sql), {"k": kpi}).scalar_one()
        sql = (
            "SELECT r.range_id FROM kpi_reference_ranges r JOIN customers c "
            "ON c.customer_id = r.customer_id WHERE c.slug = :s AND r.kpi_name = :k"
        )
        return conn.execute(text(sql), {"s": slug, "k": kpi}).scalar_one()


def insert_range(conn: Connection, customer_id: int | None, kpi: str) -> int:
    conn.execute(
        text(
            "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, critical_max, weight, "
            "updated_at) VALUES (:c, :k, 1, 1, CURRENT_TIMESTAMP)"
        ),
        {"c": customer_id, "k": kpi},
    )
    return conn.execute(text("SELECT max(range_id) FROM kpi_reference_ranges")).scalar_one()


def sqlite_rebuild(db_url: str, table: str, edit: Callable[[str], str]) -> None:
    """Rebuild a SQLite table from its edited CREATE TABLE text (SQLite cannot drop a
    constraint in place): the documented create-copy-drop-rename procedure."""
    path = db_url.removeprefix("sqlite:///")
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA foreign_keys=OFF")
        con.execute("BEGIN")
        (sql,) = con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        index_sql = [
            r[0]
            for r in con.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (table,),
            )
        ]
        new_sql = edit(sql)
        assert new_sql != sql, "the edit changed nothing"
        con.execute(new_sql.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}__new", 1))
        con.execute(f"INSERT INTO {table}__new SELECT * FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}__new RENAME TO {table}")
        for statement in index_sql:
            con.execute(statement)
        con.execute("COMMIT")
    finally:
        con.close()


def drop_uq_customer_kpi_name(db_url: str) -> None:
    """Drop the (customer_id, kpi_name) unique constraint, so a pair can be stored twice."""
    if is_pg(db_url):
        with raw(db_url) as conn:
            conn.execute(
                text("ALTER TABLE kpi_reference_ranges DROP CONSTRAINT uq_customer_kpi_name")
            )
    else:
        sqlite_rebuild(
            db_url,
            "kpi_reference_ranges",
            lambda sql: sql.replace(
                "CONSTRAINT uq_customer_kpi_name UNIQUE (customer_id, kpi_name), ", ""
            ),
        )


def report(settings: Settings, **kwargs) -> isolation.IsolationReport:
    return isolation.verify_isolation(settings, **kwargs)


def failed(result: isolation.IsolationReport) -> set[str]:
    return {c.name for c in result.checks if not c.ok}


def messages(result: isolation.IsolationReport, check: str) -> str:
    return "\n".join(v.message for v in result.check(check).violations)


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


class Kit:
    """The helpers above, for the tests of this directory (conftest is not importable
    under --import-mode=importlib)."""

    raw = staticmethod(raw)
    is_pg = staticmethod(is_pg)
    customer_ids = staticmethod(customer_ids)
    range_id = staticmethod(range_id)
    insert_range = staticmethod(insert_range)
    sqlite_rebuild = staticmethod(sqlite_rebuild)
    drop_uq_customer_kpi_name = staticmethod(drop_uq_customer_kpi_name)
    report = staticmethod(report)
    failed = staticmethod(failed)
    messages = staticmethod(messages)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
