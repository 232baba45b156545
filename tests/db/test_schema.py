"""The schema of SPEC section 2, created by the migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from kpictl import api
from kpictl.db import engine as db
from kpictl.db.engine import driver_url
from kpictl.db.schema import metadata
from kpictl.errors import SchemaTooNew
from kpictl.settings import Settings


def _init(url: str) -> None:
    api.init(Settings(database_url=url))


def test_init_creates_contract_tables_and_names(db_url: str) -> None:
    result = api.init(Settings(database_url=db_url))
    assert result.before is None and result.after == db.head_revision()
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    insp = inspect(engine)
    tables = set(insp.get_table_names())
    assert {
        "customers",
        "kpi_reference_ranges",
        "range_revisions",
        "kpi_observations",
        "health_scores",
        "alembic_version",
    } <= tables
    uniques = {
        u["name"]: u["column_names"] for u in insp.get_unique_constraints("kpi_reference_ranges")
    }
    assert uniques["uq_customer_kpi_name"] == ["customer_id", "kpi_name"]
    indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("kpi_reference_ranges")}
    assert indexes["idx_ref_range_customer_kpi"] == ["customer_id", "kpi_name"]
    for table in ("kpi_reference_ranges", "kpi_observations", "health_scores"):
        (fk,) = insp.get_foreign_keys(table)
        assert fk["referred_table"] == "customers"
        assert fk["options"].get("ondelete", "").upper() == "CASCADE"
    obs = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("kpi_observations")}
    assert obs["uq_observation"] == ["customer_id", "kpi_name", "observed_at"]
    engine.dispose()


def test_second_init_is_a_no_op(db_url: str) -> None:
    _init(db_url)
    again = api.init(Settings(database_url=db_url))
    assert again.before == again.after == db.head_revision()


def test_migrations_match_the_metadata(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    _init(db_url)
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"

        def include(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
            # the partial unique index on defaults is SQLite's (ddl_if); PostgreSQL uses
            # NULLS NOT DISTINCT on uq_customer_kpi_name instead
            return sqlite or name != "uq_default_kpi_name"

        context = MigrationContext.configure(conn, opts={"include_object": include})
        diffs = compare_metadata(context, metadata)
    engine.dispose()
    assert diffs == []


def test_head_revision_agrees_with_alembic() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == db.head_revision()


def test_two_system_defaults_for_one_kpi_are_refused(db_url: str) -> None:
    _init(db_url)
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    insert = text(
        "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, weight, updated_at) "
        "VALUES (NULL, 'error_rate_pct', 1, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        conn.execute(insert)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM kpi_reference_ranges")).scalar()
    engine.dispose()
    assert n == 1


def test_sqlite_connections_enforce_foreign_keys(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fk.db'}"
    with (
        db.open_database(Settings(database_url=url), write=True) as engine,
        engine.connect() as conn,
    ):
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(IntegrityError):
            conn.exec_driver_sql(
                "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, weight, updated_at) "
                "VALUES (999, 'error_rate_pct', 1, CURRENT_TIMESTAMP)"
            )


def test_a_newer_schema_is_refused_with_exit_3(db_url: str) -> None:
    _init(db_url)
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaTooNew) as info, db.open_database(Settings(database_url=db_url)):
        pass
    assert info.value.exit_code == 3
    assert "9999" in info.value.message
