"""An adopted database has kpictl's schema as a fresh ``init`` makes it: the same tables,
columns, constraints, indexes, foreign keys and (PostgreSQL) row-level security, policies
and grants to kpictl_tenant — nothing duplicated. Only the application's own column
types (and, on SQLite, how NOT NULL on slug is enforced) differ."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url


@pytest.fixture
def fresh_url(db_url: str, tmp_path) -> Iterator[str]:
    """A second, empty database on the same backend, for ``kpictl init``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    import psycopg2

    name = db_url.rsplit("/", 1)[1] + "_fresh"
    admin = db_url.rsplit("/", 1)[0] + "/postgres"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield db_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def _shape(url: str) -> dict[str, Any]:
    engine = create_engine(driver_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            out: dict[str, Any] = {}
            for table in sorted(insp.get_table_names()):
                out[table] = {
                    "columns": sorted(c["name"] for c in insp.get_columns(table)),
                    "pk": insp.get_pk_constraint(table)["constrained_columns"],
                    "unique": sorted(
                        (u["name"], tuple(u["column_names"]))
                        for u in insp.get_unique_constraints(table)
                    ),
                    "indexes": sorted(
                        (
                            i["name"],
                            bool(i["unique"]),
                            tuple(i["column_names"]),
                            " ".join(
                                str(i.get("dialect_options", {}).get("sqlite_where", "")).split()
                            ).lower(),
                            bool(i.get("dialect_options", {}).get("postgresql_nulls_not_distinct")),
                        )
                        for i in insp.get_indexes(table)
                    ),
                    "foreign_keys": sorted(
                        (
                            tuple(f["constrained_columns"]),
                            f["referred_table"],
                            tuple(f["referred_columns"]),
                            str(f.get("options", {}).get("ondelete")).upper(),
                        )
                        for f in insp.get_foreign_keys(table)
                    ),
                }
            if conn.dialect.name == "postgresql":
                out["_security"] = sorted(
                    tuple(r)
                    for r in conn.execute(
                        text(
                            "SELECT c.relname, c.relrowsecurity, p.polname, p.polcmd, "
                            "pg_get_expr(p.polqual, p.polrelid), "
                            "has_table_privilege('kpictl_tenant', c.oid, 'SELECT') "
                            "FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid "
                            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
                        )
                    )
                )
            out["_version"] = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            return out
    finally:
        engine.dispose()


def _adopted_shape(url: str) -> dict[str, Any]:
    """SQLite's ALTER TABLE cannot add a table constraint: there the unique slug is the
    unique index uq_customers_slug, of the same name and meaning. Seen as one here."""
    shape = _shape(url)
    if url.startswith("sqlite"):
        customers = shape["customers"]
        assert customers["indexes"] == [("uq_customers_slug", True, ("slug",), "", False)]
        assert customers["unique"] == []
        customers["indexes"], customers["unique"] = [], [("uq_customers_slug", ("slug",))]
    return shape


def test_an_adopted_database_has_the_schema_init_makes(db_url, fresh_url, legacy, cli) -> None:
    legacy.create_and_seed(db_url)
    cli("adopt", "--yes")
    type(cli)(fresh_url, cli.ranges_dir)("init")
    assert _adopted_shape(db_url) == _shape(fresh_url)


def test_missing_indexes_are_created_once(db_url, fresh_url, legacy, cli, helpers) -> None:
    legacy.create_and_seed(db_url)
    helpers.execute(db_url, "DROP INDEX idx_ref_range_customer_kpi")
    plan = cli("adopt", "--yes")
    assert "+ index idx_ref_range_customer_kpi (customer_id, kpi_name)" in plan.stdout
    type(cli)(fresh_url, cli.ranges_dir)("init")
    assert _adopted_shape(db_url) == _shape(fresh_url)
