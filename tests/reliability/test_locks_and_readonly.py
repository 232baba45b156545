"""A database that refuses writes, or whose lock another writer holds: every writing
command ends with exit 3, one error line that says why, and nothing changed; waiting
for another writer is bounded by --lock-timeout and reported as such."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url
from tests.helpers.locks import holding_lock, holding_write_lock
from tests.helpers.reliability import assert_one_clean_error, error_lines

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "observations.csv"
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# Every command that writes, as (args, what it needs prepared). Each takes --lock-timeout.
WRITERS = {
    "seed": ["seed", "--all", "--lock-timeout", "{t}"],
    "import": ["observations", "import", str(SAMPLES), "--lock-timeout", "{t}"],
    "score-save": ["score", "--all", "--save", "--at", "2026-11-28", "--lock-timeout", "{t}"],
}


def writer(name: str, timeout: str) -> list[str]:
    return [a.replace("{t}", timeout) for a in WRITERS[name]]


def used_database(kpictl, ranges_dir: Path) -> None:
    """Seeded, with observations, and a file edited so that a seed has work to do."""
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    acme = ranges_dir / "customers" / "acme.yaml"
    acme.write_text(
        acme.read_text()
        .replace("version: 1", "version: 2")
        .replace("max: 100}", "max: 150}")
        .replace("{min: 100, max: 500}", "{min: 150, max: 500}")
    )


@pytest.mark.parametrize("name", list(WRITERS))
def test_waiting_for_another_writer_is_bounded_and_reported(
    kpictl, ranges_dir, db_url, db_snapshot, name: str
) -> None:
    used_database(kpictl, ranges_dir)
    before = db_snapshot(db_url)
    with holding_write_lock(db_url):
        started = time.monotonic()
        result = kpictl(*writer(name, "1.5"), expect=None)
        waited = time.monotonic() - started
    line = assert_one_clean_error(result, 3)
    assert 1.4 <= waited < 10, waited  # it did wait, and not much longer than asked
    assert line.startswith("error: could not obtain the database lock in time"), line
    assert "more than 1.5 s (--lock-timeout)" in line, line
    assert "hint: another kpictl" in result.stderr
    assert db_snapshot(db_url) == before
    kpictl(*writer(name, "1.5"))  # the lock is free again: it goes through


def test_lock_timeout_zero_fails_at_once_instead_of_waiting(
    kpictl, ranges_dir, db_url, db_snapshot
) -> None:
    """PostgreSQL reads lock_timeout = 0 as "wait for ever": kpictl must not."""
    used_database(kpictl, ranges_dir)
    before = db_snapshot(db_url)
    with holding_write_lock(db_url):
        started = time.monotonic()
        result = kpictl("seed", "--all", "--lock-timeout", "0", expect=None)
        assert time.monotonic() - started < 5
    line = assert_one_clean_error(result, 3)
    assert "more than 0 s (--lock-timeout)" in line, line
    assert db_snapshot(db_url) == before


@pytest.mark.parametrize("value", ["inf", "1e300"])
def test_an_enormous_lock_timeout_is_accepted(kpictl, ranges_dir, value: str) -> None:
    used_database(kpictl, ranges_dir)
    kpictl("seed", "--all", "--lock-timeout", value)


@SQLITE_ONLY
@pytest.mark.parametrize("name", list(WRITERS))
def test_sqlite_locked_exclusively_by_another_connection(
    kpictl, ranges_dir, db_url, db_snapshot, name: str
) -> None:
    """BEGIN EXCLUSIVE elsewhere shuts out even kpictl's first read."""
    used_database(kpictl, ranges_dir)
    before = db_snapshot(db_url)
    with holding_write_lock(db_url, exclusive=True):
        result = kpictl(*writer(name, "1"), expect=None)
    line = assert_one_clean_error(result, 3)
    assert line.startswith("error: could not obtain the database lock in time"), line
    assert db_snapshot(db_url) == before
    kpictl(*writer(name, "1"))


# -- a read-only database ------------------------------------------------------------

READ_ONLY_WRITES = [
    ["seed", "--all"],
    ["observations", "import", str(SAMPLES)],
    ["score", "--all", "--save", "--at", "2026-11-28"],
    ["customers", "add", "initech", "--name", "Initech"],
    ["customers", "remove", "globex", "--yes"],
]


@SQLITE_ONLY
@pytest.mark.parametrize("args", READ_ONLY_WRITES, ids=lambda a: "-".join(a[:2]))
def test_sqlite_opened_read_only_refuses_every_write(
    kpictl, ranges_dir, db_url, db_snapshot, args: list[str]
) -> None:
    """SQLite itself refuses the write: the file is opened with mode=ro (a URI filename),
    which binds root too, unlike file permissions."""
    used_database(kpictl, ranges_dir)
    before = db_snapshot(db_url)
    path = db_url.removeprefix("sqlite:///")
    kpictl.db_url = f"sqlite:///file:{path}?mode=ro&uri=true"
    line = assert_one_clean_error(kpictl(*args, expect=None), 3)
    assert line == "error: the database rejected the write: attempt to write a readonly database"
    kpictl("list", "--customer", "acme")  # reading still works
    kpictl("diff", "--all", expect=1)
    assert db_snapshot(db_url) == before


def _unshare_works() -> bool:
    try:
        done = subprocess.run(
            ["unshare", "--user", sys.executable, "-c", "pass"], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@SQLITE_ONLY
def test_sqlite_file_without_write_permission(
    kpictl, ranges_dir, db_url, db_snapshot, tmp_path
) -> None:
    """A database file (and directory) the user may not write, as on a read-only share.
    The tests run as root, whom file modes do not bind: kpictl runs in a user namespace
    of its own (``unshare --user``), where it keeps its uid but loses root's override of
    file permissions. Skipped where user namespaces are not allowed."""
    if os.geteuid() == 0 and not (shutil.which("unshare") and _unshare_works()):
        pytest.skip("running as root and cannot create a user namespace (unshare --user)")
    used_database(kpictl, ranges_dir)
    before = db_snapshot(db_url)
    path = Path(db_url.removeprefix("sqlite:///"))
    path.chmod(0o444)
    path.parent.chmod(0o555)
    try:
        wrapper = ["unshare", "--user"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*wrapper, sys.executable, "-m", "kpictl", "--db", db_url, "seed", "--all"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1", "KPICTL_RANGES_DIR": str(ranges_dir)},
        )
    finally:
        path.parent.chmod(0o755)
        path.chmod(0o644)
    assert done.returncode == 3, done.stderr
    errors = error_lines(done.stderr)
    assert errors == [
        "error: the database rejected the write: attempt to write a readonly database"
    ], done.stderr
    assert "Traceback" not in done.stderr
    assert db_snapshot(db_url) == before
    kpictl("seed", "--all")  # writable again: it goes through


@SQLITE_ONLY
def test_sqlite_file_that_is_not_a_database(kpictl, db_url) -> None:
    Path(db_url.removeprefix("sqlite:///")).write_bytes(b"this is not a database\n" * 100)
    line = assert_one_clean_error(kpictl("list", expect=None), 3)
    assert "file is not a database" in line, line


@SQLITE_ONLY
def test_sqlite_reader_holding_a_shared_lock_does_not_lose_a_seed(
    kpictl, ranges_dir, db_url, tmp_path
) -> None:
    """A long reader delays a SQLite commit; with enough --lock-timeout the seed lands."""
    used_database(kpictl, ranges_dir)
    reader = sqlite3.connect(
        db_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM customers").fetchall()
    timer = threading.Timer(1.0, reader.rollback)
    timer.start()
    try:
        kpictl("seed", "--all", "--lock-timeout", "20")
    finally:
        timer.join()
        reader.close()
    kpictl("diff", "--all")


PG_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@PG_ONLY
def test_waiting_to_migrate_a_fresh_database_is_bounded(
    kpictl, db_url, db_snapshot, monkeypatch
) -> None:
    """Another process holding the migration lock (or a migration stuck behind a table
    lock) makes kpictl give up after the lock timeout, not wait for ever."""
    from kpictl.db import engine as db

    monkeypatch.setattr(db, "DEFAULT_LOCK_TIMEOUT", 1.0)
    with holding_lock(db_url, f"SELECT pg_advisory_lock({db.MIGRATE_LOCK_KEY})"):
        started = time.monotonic()
        # init: a read no longer migrates (SPEC section 7); init and the writes do
        result = kpictl("init", expect=None)
        assert time.monotonic() - started < 10
    line = assert_one_clean_error(result, 3)
    assert line.startswith("error: could not obtain the database lock in time"), line
    assert db_snapshot(db_url) == {}  # not even the schema: nothing was written
    kpictl("init")  # and once the lock is free the first use migrates


def test_the_default_lock_timeout_is_30_seconds() -> None:
    from typer.testing import CliRunner

    from kpictl.cli.app import app

    for args in (["seed"], ["observations", "import"], ["score"]):
        result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
        assert "--lock-timeout" in result.stdout
        assert "[default: 30.0; x>=0]" in result.stdout, result.stdout


@PG_ONLY
@pytest.mark.parametrize("args", READ_ONLY_WRITES, ids=lambda a: "-".join(a[:2]))
def test_a_read_only_postgresql_database_refuses_every_write(
    kpictl, ranges_dir, db_url, db_snapshot, args: list[str]
) -> None:
    """As on a hot standby, or a database an administrator set read-only."""
    used_database(kpictl, ranges_dir)
    before = db_snapshot(db_url)
    admin = create_engine(driver_url(db_url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    name = db_url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    admin.dispose()
    line = assert_one_clean_error(kpictl(*args, expect=None), 3)
    assert line.startswith("error: the database rejected the write: cannot execute"), line
    assert "read-only transaction" in line, line
    kpictl("list", "--customer", "acme")  # reading still works
    assert db_snapshot(db_url) == before
