"""Reading never writes (SPEC section 7): read commands create no database file, create
or upgrade no schema and write nothing; only init and the write commands do."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from kpictl.db.engine import driver_url, head_revision

# Every read command, with what it needs to get past its own argument checks.
READS = [
    ("list",),
    ("list", "--customer", "acme"),
    ("history",),
    ("export", "--defaults"),
    ("diff", "--customer", "acme", "--against", "defaults"),
    ("score", "acme", "--set", "error_rate_pct=1"),
    ("score", "--all"),
    ("verify-isolation",),
    ("observations", "list", "--customer", "acme"),
    ("customers", "list"),
]


def tables(url: str) -> set[str]:
    engine = create_engine(driver_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("args", [*READS, ("diff",), ("diff", "--all")], ids=" ".join)
def test_a_read_of_a_missing_sqlite_file_creates_no_file(kpictl, tmp_path: Path, args) -> None:
    path = tmp_path / "elsewhere" / "kpictl.db"
    path.parent.mkdir()
    kpictl.db_url = f"sqlite:///{path}"
    result = kpictl(*args, expect=3)
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: cannot connect to sqlite:///"), result.stderr
    assert "no database file" in lines[0]
    assert lines[1].startswith("hint: ") and "--db" in lines[1] and "kpictl init" in lines[1]
    assert "Traceback" not in result.output
    assert not path.exists()


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_of_a_database_without_the_schema_asks_for_init(kpictl, db_url, args) -> None:
    if db_url.startswith("sqlite"):
        create_engine(db_url).dispose()  # an empty file: a database, but not kpictl's
        with create_engine(db_url).begin() as conn:
            conn.exec_driver_sql("CREATE TABLE unrelated (a integer)")
    before = tables(db_url)
    result = kpictl(*args, expect=3)
    assert "has no kpictl schema" in result.stderr.splitlines()[0], result.stderr
    assert result.stderr.splitlines()[1] == "hint: run kpictl init"
    assert tables(db_url) == before


def test_diff_without_the_schema_plans_every_scope_as_an_addition(kpictl, db_url) -> None:
    if db_url.startswith("sqlite"):
        with create_engine(db_url).begin() as conn:
            conn.exec_driver_sql("CREATE TABLE unrelated (a integer)")
    before = tables(db_url)
    result = kpictl("diff", "-o", "json", expect=1)
    report = json.loads(result.stdout)
    assert report["schema_absent"] is True
    assert report["changes"] and {c["action"] for c in report["changes"]} == {"add"}
    assert {s["scope"] for s in report["scopes"]} == {None, "acme", "data-center", "globex"}
    assert "no kpictl schema" in result.stderr
    assert tables(db_url) == before
    # the table output says so too, and a seed then finds exactly that plan
    table = kpictl("diff", expect=1)
    assert "no kpictl schema" in table.stderr
    seeded = kpictl("seed", "--all", "-o", "json")
    assert len(json.loads(seeded.stdout)["changes"]) == len(report["changes"])
    assert kpictl("diff", "-o", "json").stdout.count('"schema_absent": false') == 1


def test_a_read_of_an_older_schema_asks_for_init_and_upgrades_nothing(kpictl, db_url) -> None:
    from alembic import command
    from alembic.config import Config

    from kpictl.db.engine import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_engine(driver_url(db_url))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
    engine.dispose()
    for args in [*READS, ("diff",)]:
        result = kpictl(*args, expect=3)
        first, hint = result.stderr.splitlines()[:2]
        assert "older than this kpictl's" in first and "0002" in first, result.stderr
        assert hint == "hint: run kpictl init"
    engine = create_engine(driver_url(db_url))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"
    engine.dispose()
    kpictl("init")
    assert kpictl("list").exit_code == 0
    assert head_revision() != "0002"


def _admin(url: str, *statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_read_only_role_diff_plans_additions_and_creates_nothing(kpictl, db_url) -> None:
    """The CI recipe's situation: a read-only role (CONNECT, USAGE, SELECT) on a database
    nobody initialised. ``diff`` must not try CREATE TABLE (it exited 3 with "cannot
    execute CREATE TABLE in a read-only transaction" when reads migrated)."""
    role = f"kpictl_reader_{uuid.uuid4().hex[:10]}"
    database = db_url.rsplit("/", 1)[1]
    _admin(
        db_url,
        f"CREATE ROLE {role} LOGIN",
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}",
    )
    try:
        reader = kpictl.__class__(
            db_url.replace("postgresql://postgres@", f"postgresql://{role}@"), kpictl.ranges_dir
        )
        result = reader("diff", "-o", "json", expect=1)
        report = json.loads(result.stdout)
        assert report["schema_absent"] is True
        assert {c["action"] for c in report["changes"]} == {"add"}
        assert "read-only" not in result.stderr and "CREATE" not in result.stderr
        listed = reader("list", expect=3)
        assert listed.stderr.splitlines()[1] == "hint: run kpictl init"
        assert tables(db_url) == set()
        # after init (by the owner), the reader reads
        kpictl("seed", "--all")
        # a reader of all customers' rows needs BYPASSRLS (tests/isolation/test_reads_through_rls)
        _admin(
            db_url,
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
            f"ALTER ROLE {role} BYPASSRLS",
        )
        after = reader("diff", "-o", "json", expect=None)
        assert after.exit_code in (0, 1), after.output
        assert json.loads(after.stdout)["schema_absent"] is False
    finally:
        _admin(
            db_url,
            f"REASSIGN OWNED BY {role} TO postgres",
            f"DROP OWNED BY {role}",
            f"DROP ROLE {role}",
        )
