"""Start-up cost, exit codes of database errors, and secrets that must never print."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url
from tests.helpers.locks import holding_write_lock

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    """The installed console script's module, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "kpictl", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        timeout=60,
    )


def imported_modules(*args: str) -> set[str]:
    """The modules a command imported, run through the console script's entry function
    (kpictl.cli:main) in a fresh interpreter; the command must succeed."""
    code = (
        "import json, sys\n"
        f"sys.argv = ['kpictl', *{list(args)!r}]\n"
        "from kpictl.cli import main\n"
        "try:\n"
        "    main()\n"
        "    code = 0\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "sys.stdout.flush()\n"
        "print('\\n' + json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert out.stdout.strip(), out.stderr
    found = json.loads(out.stdout.rstrip().rsplit("\n", 1)[-1])
    assert found["code"] in (0, None), out.stdout + out.stderr
    return set(found["modules"])


# the database layer, and the web stack of `kpictl serve` (an optional extra); not
# pydantic, which Typer itself imports to convert parameters
HEAVY = {"sqlalchemy", "alembic", "psycopg2", "fastapi", "starlette", "uvicorn"}


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["validate"],
        ["validate", "ranges"],
        ["validate", "ranges/kpis.yaml"],
    ],
)
def test_light_commands_do_not_import_the_database_layer(args: list[str]) -> None:
    modules = imported_modules(*args)
    assert "kpictl" in modules
    heavy = {m for m in modules if m.split(".")[0] in HEAVY}
    assert heavy == set()


# the core imports neither Typer nor Rich: tests/test_layering.py walks every core module


def test_version_and_module_entry_point() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("kpictl ")


def test_unreachable_database_is_exit_3_with_the_password_masked(tmp_path: Path) -> None:
    url = "postgresql://admin:s3cr3t-pw@127.0.0.1:1/nowhere"
    started = time.monotonic()
    result = run("--db", url, "list", cwd=tmp_path)
    assert time.monotonic() - started < 10
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(
        "error: cannot connect to postgresql://admin:***@127.0.0.1:1/nowhere"
    )
    assert "s3cr3t-pw" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_unexpected_url_is_exit_3(tmp_path: Path) -> None:
    result = run("--db", "nosuchdb://x", "list", cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr.startswith("error: cannot use database URL")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("--db", "nosuchdb://x", "list", cwd=tmp_path, env={"KPICTL_DEBUG": "1"})
    assert "Traceback" in result.stderr


def test_a_seed_waiting_for_another_writer_times_out_with_exit_3(kpictl, db_url, db_snapshot):
    kpictl("init")
    before = db_snapshot(db_url)
    with holding_write_lock(db_url):
        started = time.monotonic()
        result = kpictl("seed", "--all", "--lock-timeout", "1", expect=3)
        assert time.monotonic() - started < 15
        assert "error: could not obtain the database lock in time" in result.stderr
    assert db_snapshot(db_url) == before
    kpictl("seed", "--all")  # and once the other writer is gone, it goes through


def test_a_newer_schema_is_exit_3_on_the_command_line(kpictl, db_url) -> None:
    kpictl("init")
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    result = kpictl("list", expect=3)
    assert "newer than this kpictl" in result.stderr
