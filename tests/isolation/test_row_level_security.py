"""Row-level security on PostgreSQL: the policies, the tenant role, the tenant scope of
kpictl's reads, and migration 0002 (which does nothing on SQLite)."""

from __future__ import annotations

import importlib.util
import threading
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl import api, store
from kpictl.db import engine as db
from kpictl.db.engine import driver_url
from kpictl.db.schema import kpi_reference_ranges as R
from kpictl.db.tenant import CUSTOMER_SETTING, POLICY_NAME, TENANT_ROLE, tenant_scope
from kpictl.settings import Settings
from tests.helpers.db import customer_ids

ON_POSTGRESQL = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
ON_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def owners(conn, sql: str) -> set:
    return {r[0] for r in conn.execute(text(sql))}


@ON_POSTGRESQL
def test_a_plain_select_as_the_tenant_sees_only_its_rows_and_the_defaults(seeded) -> None:
    url = seeded.database_url
    ids = customer_ids(url)
    acme = ids["acme"]
    engine = create_engine(driver_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            # a fresh session: the setting has never existed (current_setting gives NULL)
            with conn.begin():
                conn.exec_driver_sql(f"SET LOCAL ROLE {TENANT_ROLE}")
                assert conn.execute(
                    text("SELECT current_setting('kpictl.customer_id', true)")
                ).scalar() in (None, "")
                assert owners(conn, "SELECT customer_id FROM kpi_reference_ranges") == {None}
                assert owners(conn, "SELECT customer_id FROM kpi_observations") == set()
                assert owners(conn, "SELECT customer_id FROM health_scores") == set()
            # customer A's setting: a SELECT without any WHERE gets A's rows and defaults
            with conn.begin():
                conn.exec_driver_sql(f"SET LOCAL ROLE {TENANT_ROLE}")
                conn.execute(
                    text("SELECT set_config('kpictl.customer_id', :v, true)"), {"v": str(acme)}
                )
                rows = conn.execute(text("SELECT * FROM kpi_reference_ranges")).all()
                assert {r.customer_id for r in rows} == {acme, None}
                assert sum(r.customer_id == acme for r in rows) == 2
                assert sum(r.customer_id is None for r in rows) == 10
                assert owners(conn, "SELECT customer_id FROM kpi_observations") == {acme}
                assert owners(conn, "SELECT customer_id FROM health_scores") == {acme}
            # after that transaction the setting reads '' (not NULL): still only defaults
            with conn.begin():
                conn.exec_driver_sql(f"SET LOCAL ROLE {TENANT_ROLE}")
                assert (
                    conn.execute(
                        text("SELECT current_setting('kpictl.customer_id', true)")
                    ).scalar()
                    == ""
                )
                assert owners(conn, "SELECT customer_id FROM kpi_reference_ranges") == {None}
                assert owners(conn, "SELECT customer_id FROM kpi_observations") == set()
    finally:
        engine.dispose()


@ON_POSTGRESQL
def test_the_tenant_role_cannot_write(seeded) -> None:
    from sqlalchemy.exc import ProgrammingError

    engine = create_engine(driver_url(seeded.database_url), poolclass=NullPool)
    try:
        with pytest.raises(ProgrammingError, match="permission denied"), engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL ROLE {TENANT_ROLE}")
            conn.execute(text("DELETE FROM kpi_reference_ranges"))
    finally:
        engine.dispose()


@ON_POSTGRESQL
def test_tenant_scope_sets_role_and_customer_for_the_block_only(seeded) -> None:
    acme = customer_ids(seeded.database_url)["acme"]
    engine = create_engine(driver_url(seeded.database_url), poolclass=NullPool)
    who = text("SELECT current_user, current_setting('kpictl.customer_id', true)")
    try:
        with engine.begin() as conn:
            admin = conn.execute(who).one()[0]
            with tenant_scope(conn, acme):
                assert tuple(conn.execute(who).one()) == (TENANT_ROLE, str(acme))
                with tenant_scope(conn, acme):  # nesting for the same customer is fine
                    pass
                with pytest.raises(RuntimeError), tenant_scope(conn, acme + 1):
                    pass
                assert conn.execute(text("SELECT count(*) FROM kpi_observations")).scalar() == 2
            assert tuple(conn.execute(who).one()) == (admin, "")
            with tenant_scope(conn, None):
                assert owners(conn, "SELECT customer_id FROM kpi_reference_ranges") == {None}
    finally:
        engine.dispose()


@ON_SQLITE
def test_tenant_scope_is_a_no_op_on_sqlite(seeded) -> None:
    engine = create_engine(driver_url(seeded.database_url), poolclass=NullPool)
    statements: list[str] = []
    try:
        with engine.begin() as conn:
            from sqlalchemy import event

            event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
            with tenant_scope(conn, 1):
                pass
    finally:
        engine.dispose()
    assert statements == []


@ON_POSTGRESQL
def test_a_forgotten_filter_cannot_leak_on_postgresql(seeded, monkeypatch) -> None:
    """effective_ranges runs under the tenant role: with its customer filter gone, the
    policies still hand it only the customer's rows and the defaults."""
    monkeypatch.setattr(store, "effective_range_filter", lambda _cid: R.c.kpi_name.is_not(None))
    rows = api.list_ranges(seeded, customer="acme")
    assert {r.customer for r in rows} <= {"acme", None}
    own = api.list_ranges(seeded, customer="globex", own=True)
    assert own == []


@ON_SQLITE
def test_a_forgotten_filter_is_refused_on_sqlite(seeded, monkeypatch) -> None:
    """No RLS on SQLite: the defence in depth of effective_ranges refuses a foreign row."""
    monkeypatch.setattr(store, "effective_range_filter", lambda _cid: R.c.kpi_name.is_not(None))
    with pytest.raises(AssertionError, match="foreign row"):
        api.list_ranges(seeded, customer="globex")


@ON_POSTGRESQL
def test_list_customer_reads_under_the_tenant_role(seeded) -> None:
    from sqlalchemy import Engine, event

    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        rows = api.list_ranges(seeded, customer="acme")
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert len(rows) == 10
    role = statements.index(f"SET LOCAL ROLE {TENANT_ROLE}")
    read = next(i for i, s in enumerate(statements) if "FROM kpi_reference_ranges" in s)
    assert role < read
    assert statements[-1] == "SET LOCAL ROLE NONE"


# -- migration 0002 ------------------------------------------------------------------


def _migration():
    spec = importlib.util.spec_from_file_location(
        "migration_0002", db.MIGRATIONS_DIR / "versions" / "0002_row_level_security.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_and_the_tenant_scope_agree_on_names() -> None:
    migration = _migration()
    assert (migration.ROLE, migration.POLICY) == (TENANT_ROLE, POLICY_NAME)
    assert f"current_setting('{CUSTOMER_SETTING}', true)" in migration._SESSION_CUSTOMER


def _policies(url: str) -> dict:
    engine = create_engine(driver_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity, p.polname FROM pg_class c "
                    "LEFT JOIN pg_policy p ON p.polrelid = c.oid "
                    "WHERE c.relname IN ('kpi_reference_ranges', 'kpi_observations', "
                    "'health_scores')"
                )
            ).all()
    finally:
        engine.dispose()
    return {r.relname: (r.relrowsecurity, r.polname) for r in rows}


@ON_POSTGRESQL
def test_init_creates_the_policies_and_downgrade_drops_them(db_url) -> None:
    from alembic import command
    from alembic.config import Config

    api.init(Settings(database_url=db_url))
    on = (True, POLICY_NAME)
    assert _policies(db_url) == dict.fromkeys(_policies(db_url), on)
    assert len(_policies(db_url)) == 3

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0001")
    finally:
        engine.dispose()
    assert set(_policies(db_url).values()) == {(False, None)}

    # and the next use upgrades again; the role already exists, which is fine
    result = api.init(Settings(database_url=db_url))
    assert (result.before, result.after) == ("0001", db.head_revision())
    assert set(_policies(db_url).values()) == {on}


@ON_SQLITE
def test_the_migration_is_a_no_op_on_sqlite(db_url) -> None:
    assert api.init(Settings(database_url=db_url)).after == db.head_revision()


@ON_POSTGRESQL
def test_creating_the_role_tolerates_a_concurrent_creator(db_url) -> None:
    """Roles are cluster-wide: two databases may create the role at the same moment.

    Run the migration's role block for a throw-away role name in two sessions: the
    second one waits on the first's uncommitted CREATE ROLE, then must carry on."""
    name = f"kpictl_race_{uuid.uuid4().hex[:8]}"
    block = _migration()._CREATE_ROLE.replace(TENANT_ROLE, name)
    first = create_engine(driver_url(db_url), poolclass=NullPool)
    second = create_engine(driver_url(db_url), poolclass=NullPool)
    errors: list[BaseException] = []
    try:
        with first.connect() as holder:
            holder.begin()
            holder.execute(text(block))  # created, not committed yet

            def racer() -> None:
                try:
                    with second.begin() as conn:
                        conn.execute(text(block))
                except BaseException as exc:  # reported below
                    errors.append(exc)

            thread = threading.Thread(target=racer)
            thread.start()
            thread.join(1.0)
            assert thread.is_alive(), "the second creator should wait for the first"
            holder.commit()
            thread.join(30)
        assert errors == []
        with first.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM pg_roles WHERE rolname = :n"), {"n": name}
                ).scalar()
                == 1
            )
    finally:
        with first.begin() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {name}")
        first.dispose()
        second.dispose()
