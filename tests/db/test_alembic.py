"""Alembic beside kpictl: autogenerate is clean on both backends with the hook env.py
uses, and the stock ``alembic`` command runs kpictl's migrations (the supported way:
the repository's alembic.ini, ``-x url=...``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from kpictl import api
from kpictl.db import engine as db
from kpictl.db.engine import driver_url
from kpictl.db.schema import created_on, include_object_for, kpi_reference_ranges, metadata
from kpictl.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO / "alembic.ini"


def _alembic(*args: str, url: str | None, cwd: Path, env_url: str | None = None):
    """The stock alembic command of this environment, as a user runs it."""
    script = Path(sys.executable).parent / "alembic"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "alembic"]
    env = {k: v for k, v in os.environ.items() if k != "KPICTL_DATABASE_URL"}
    if env_url is not None:
        env["KPICTL_DATABASE_URL"] = env_url
    x = ["-x", f"url={url}"] if url is not None else []
    return subprocess.run(
        [*command, "-c", str(ALEMBIC_INI), *x, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def _autogenerate_diffs(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(driver_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            hook = include_object_for(conn.dialect.name)
            context = MigrationContext.configure(conn, opts={"include_object": hook})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_autogenerate_on_an_initialised_database_finds_nothing(db_url: str) -> None:
    api.init(Settings(database_url=db_url))
    assert _autogenerate_diffs(db_url) == []


def test_the_sqlite_only_index_is_created_on_sqlite_only() -> None:
    (index,) = [i for i in kpi_reference_ranges.indexes if i.name == "uq_default_kpi_name"]
    assert created_on(index, "sqlite")
    assert not created_on(index, "postgresql")
    hook = include_object_for("postgresql")
    assert not hook(index, index.name, "index", False, None)
    assert hook(index, index.name, "index", True, None)  # one found in the database stays
    assert include_object_for("sqlite")(index, index.name, "index", False, None)
    others = [i for i in kpi_reference_ranges.indexes if i.name != "uq_default_kpi_name"]
    assert others and all(created_on(i, "postgresql") for i in others)


def test_stock_alembic_upgrades_a_fresh_database_to_kpictl_head(
    db_url: str, tmp_path: Path
) -> None:
    fresh = _alembic("current", url=db_url, cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert db.head_revision() not in fresh.stdout

    upgraded = _alembic("upgrade", "head", url=db_url, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    current = _alembic("current", url=db_url, cwd=tmp_path)
    assert current.returncode == 0, current.stderr
    assert f"{db.head_revision()} (head)" in current.stdout

    # alembic's own autogenerate comparison, through env.py's hook
    check = _alembic("check", url=db_url, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr

    # the schema is kpictl's: init has nothing to do, and autogenerate agrees
    result = api.init(Settings(database_url=db_url))
    assert result.before == result.after == db.head_revision()
    assert _autogenerate_diffs(db_url) == []


def test_stock_alembic_takes_kpictl_database_url_without_x_url(db_url: str, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    upgraded = _alembic("upgrade", "head", url=None, env_url=db_url, cwd=work)
    assert upgraded.returncode == 0, upgraded.stderr
    current = _alembic("current", url=None, env_url=db_url, cwd=work)
    assert f"{db.head_revision()} (head)" in current.stdout
    assert not (work / "kpictl.db").exists()  # not the default database


def test_stock_alembic_reports_an_unreachable_database_without_a_traceback(
    tmp_path: Path,
) -> None:
    done = _alembic("current", url="postgresql://nobody:s3cret-pw@127.0.0.1:1/none", cwd=tmp_path)
    assert done.returncode != 0
    assert "FAILED: cannot connect to" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "s3cret-pw" not in done.stdout + done.stderr
