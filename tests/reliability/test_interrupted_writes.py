"""Writes whose connection dies in the middle: exit 3, one error line, the database
exactly as before; and the same command run again then succeeds.

The fault is injected before *every* statement a command sends, one run per
statement, and before its COMMIT, so the tests need not know how a verb is written
(bulk INSERT, COPY, temporary tables) to cover each point of it. On PostgreSQL the
connection's server process is terminated from another session; on SQLite the
statement fails with the driver's "disk I/O error" (see tests/helpers/faults.py: Fault).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url
from tests.helpers.faults import injected
from tests.helpers.reliability import assert_one_clean_error, edit_for_second_seed

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "observations.csv"
AT = "2026-11-28T00:00:00Z"
PG_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
MAX_STATEMENTS = 100  # a bound on the loop below, far above what any command sends


def count(db_url: str, sql: str) -> int:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def prepared(kpictl: Any) -> None:
    """A database in use: ranges seeded, observations loaded, scores saved."""
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    kpictl("score", "--all", "--save", "--at", AT)


def break_everywhere(kpictl: Any, db_url: str, db_snapshot: Any, *args: str) -> Any:
    """Run ``kpictl *args`` once with the connection broken before COMMIT, then once per
    statement it sends, each failing cleanly with nothing changed; the first run in
    which the fault never fires is the re-run that succeeds. Returns that result."""
    postgresql = db_url.startswith("postgresql")
    before = db_snapshot(db_url)
    with injected(db_url, at_commit=True) as fault:
        result = kpictl(*args, expect=None)
    assert fault.fired == "COMMIT", result.output
    line = assert_one_clean_error(result, 3)
    assert ("lost the connection" if postgresql else "database is locked") in line, line
    assert db_snapshot(db_url) == before, "changed by a run that failed at COMMIT"

    expected = "error: lost the connection to postgresql://" if postgresql else "disk I/O error"

    for n in range(1, MAX_STATEMENTS):
        with injected(db_url, at_statement=n) as fault:
            result = kpictl(*args, expect=None)
        if fault.fired is None:  # it sent fewer than n statements: every point is covered
            assert n > 3, fault.statements
            assert result.exit_code == 0, result.output
            return result
        line = assert_one_clean_error(result, 3)
        assert expected in line, line
        assert db_snapshot(db_url) == before, (
            f"changed by a run broken before statement {n}: {fault.fired}\n{line}"
        )
    raise AssertionError(f"kpictl {' '.join(args)} sent {MAX_STATEMENTS} statements or more")


def test_seed_broken_at_every_statement_changes_nothing(
    kpictl, ranges_dir, db_url, db_snapshot
) -> None:
    prepared(kpictl)
    edit_for_second_seed(ranges_dir)
    result = break_everywhere(kpictl, db_url, db_snapshot, "seed", "--all", "--prune")
    assert "applied: 1 added, 1 changed, 1 removed" in result.stderr
    kpictl("diff", "--all")  # exit 0: the database now matches the files exactly
    assert count(db_url, "SELECT count(*) FROM range_revisions") == 4 + 3


def test_seed_of_a_fresh_database_broken_changes_nothing(kpictl, db_url, db_snapshot) -> None:
    kpictl("init")
    result = break_everywhere(kpictl, db_url, db_snapshot, "seed", "--all")
    assert "applied: 22 added" in result.stderr
    kpictl("diff", "--all")


def many_observations(path: Path, *, rows: int) -> Path:
    """A CSV that replaces stored values and adds new ones, ``rows`` lines long."""
    kpis = ["daily_invocations", "error_rate_pct", "p95_latency_ms", "monthly_spend"]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["customer", "kpi_name", "value", "observed_at"])
        for i in range(rows):
            customer = ("acme", "data-center", "globex")[i % 3]
            kpi = kpis[(i // 3) % len(kpis)]
            minute = i // 12
            writer.writerow(
                [
                    customer,
                    kpi,
                    i % 97,
                    f"2026-11-{24 + minute // 1440 % 4:02d}T"
                    f"{minute // 60 % 24:02d}:{minute % 60:02d}:00Z",
                ]
            )
    return path


def test_observations_import_broken_at_every_statement_changes_nothing(
    kpictl, db_url, db_snapshot, tmp_path
) -> None:
    prepared(kpictl)
    stored = count(db_url, "SELECT count(*) FROM kpi_observations")
    source = many_observations(tmp_path / "more.csv", rows=3000)
    result = break_everywhere(kpictl, db_url, db_snapshot, "observations", "import", str(source))
    assert "imported 3000 observation(s)" in result.stderr
    assert count(db_url, "SELECT count(*) FROM kpi_observations") > stored


@PG_ONLY
def test_observations_import_broken_while_copy_streams_changes_nothing(
    kpictl, db_url, db_snapshot, tmp_path
) -> None:
    """PostgreSQL streams the file into a staging table in one COPY, fed piece by piece
    as the file is read: break the connection between two pieces (the driver's error
    bypasses SQLAlchemy)."""
    from kpictl.observations import COPY_CHUNK

    prepared(kpictl)
    before = db_snapshot(db_url)
    source = many_observations(tmp_path / "big.csv", rows=COPY_CHUNK * 3 + 10)
    with injected(db_url, at_copy_read=2) as fault:
        result = kpictl("observations", "import", str(source), expect=None)
    assert fault.fired is not None and fault.copies == 1 and fault.copy_reads >= 2
    line = assert_one_clean_error(result, 3)
    assert line.startswith("error: lost the connection to postgresql://"), line
    assert db_snapshot(db_url) == before
    kpictl("observations", "import", str(source))


@PG_ONLY
def test_score_all_save_broken_at_its_copy_changes_nothing(kpictl, db_url, db_snapshot) -> None:
    """On PostgreSQL the saved scores go in with COPY on the raw cursor, which the
    statement hooks of break_everywhere do not see: break the connection there."""
    prepared(kpictl)
    before = db_snapshot(db_url)
    args = ("score", "--all", "--save", "--at", "2026-11-29")
    with injected(db_url, at_copy=1) as fault:
        result = kpictl(*args, expect=None)
    assert fault.fired is not None and fault.fired.lstrip().upper().startswith("COPY")
    line = assert_one_clean_error(result, 3)
    assert line.startswith("error: lost the connection to postgresql://"), line
    assert db_snapshot(db_url) == before
    kpictl(*args)


def test_score_all_save_broken_at_every_statement_changes_nothing(
    kpictl, db_url, db_snapshot
) -> None:
    prepared(kpictl)
    result = break_everywhere(
        kpictl, db_url, db_snapshot, "score", "--all", "--save", "--at", "2026-11-29"
    )
    assert "saved 3 score(s)" in result.stderr
    assert count(db_url, "SELECT count(*) FROM health_scores") == 6


# The real kpictl in a process of its own that dies (as under kill -9 or the OOM
# killer) right after its n-th write statement, or just before COMMIT. On SQLite the
# page cache is kept tiny, so the database file itself is already half-overwritten
# when the process dies: the journal must roll it back on the next open.
DIE = """\
import os, sys
from sqlalchemy import Engine, event

after, at_commit, writes = int(os.environ["DIE_AFTER_WRITE"]), os.environ["DIE_AT_COMMIT"], 0

@event.listens_for(Engine, "connect")
def tiny_cache(dbapi_connection, _record):
    if type(dbapi_connection).__module__ == "sqlite3":
        dbapi_connection.execute("PRAGMA cache_size = 1").fetchall()

@event.listens_for(Engine, "after_cursor_execute")
def count(conn, cursor, statement, *_):
    global writes
    if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
        writes += 1
        if writes == after:
            os._exit(137)

@event.listens_for(Engine, "commit")
def commit(conn):
    if at_commit and writes:
        os._exit(137)

from kpictl.cli.app import main
sys.argv[0] = "kpictl"
main()
"""


def run_dying(db_url: str, ranges_dir: Path, cwd: Path, *args: str, after: int, at_commit: bool):
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "KPICTL_DATABASE_URL": db_url,
        "KPICTL_RANGES_DIR": str(ranges_dir),
        "DIE_AFTER_WRITE": str(after),
        "DIE_AT_COMMIT": "1" if at_commit else "",
    }
    return subprocess.run(
        [sys.executable, "-c", DIE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_a_seed_whose_process_dies_mid_write_leaves_nothing(
    kpictl, ranges_dir, db_url, db_snapshot, tmp_path
) -> None:
    prepared(kpictl)
    rel_edit = ranges_dir / "customers" / "acme.yaml"
    rel_edit.write_text(
        rel_edit.read_text().replace("version: 1", "version: 2").replace("weight: 3", "weight: 4")
    )
    (ranges_dir / "customers" / "initech.yaml").write_text(
        "apiVersion: kpictl/v1\ncustomer: initech\nversion: 1\nranges: {}\n"
    )
    before = db_snapshot(db_url)
    sqlite = db_url.startswith("sqlite")
    journal = Path(db_url.removeprefix("sqlite:///") + "-journal")
    deaths = 0
    for after, at_commit in [(0, True), *((n, False) for n in range(1, 10))]:
        done = run_dying(
            db_url, ranges_dir, tmp_path, "seed", "--all", after=after, at_commit=at_commit
        )
        if done.returncode == 0:  # fewer writes than ``after``: it ran to the end
            assert not at_commit
            break
        assert done.returncode == 137, done.stderr
        deaths += 1
        if sqlite:  # a hot journal: the file was already half-overwritten
            assert journal.exists() and journal.stat().st_size > 0
        assert db_snapshot(db_url) == before, f"died after write {after}: something landed"
    assert deaths >= 2
    kpictl("diff", "--all")  # the last run, or the one below, applied everything
