"""Fixtures shared by the suite: a fresh database per test on SQLite and PostgreSQL,
a copy of the shipped ranges, and a runner for the real CLI."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

# the helpers are plain modules (tests/helpers): their asserts explain themselves as a
# test's do, which needs registering before any test imports them
pytest.register_assert_rewrite("tests.helpers")

REPO = Path(__file__).resolve().parent.parent
SHIPPED_RANGES = REPO / "ranges"
PG_ADMIN_URL = os.environ.get("KPICTL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _pg_unreachable_reason() -> str | None:
    import psycopg2

    try:
        psycopg2.connect(_dsn(PG_ADMIN_URL), connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).strip()}"
    return None


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


_PG_STATE: dict[str, str | None] = {}


def pg_admin_url() -> str:
    """The admin URL, or skip (outside CI) / fail (in CI) when no server answers."""
    if "reason" not in _PG_STATE:
        _PG_STATE["reason"] = _pg_unreachable_reason()
    reason = _PG_STATE["reason"]
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
        pytest.skip(reason)
    return PG_ADMIN_URL


def create_pg_database() -> str:
    """A new, empty PostgreSQL database; returns its URL."""
    import psycopg2

    admin = pg_admin_url()
    name = f"kpictl_test_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(_dsn(admin))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return admin.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    import psycopg2

    name = url.rsplit("/", 1)[1]
    conn = psycopg2.connect(_dsn(PG_ADMIN_URL))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kpictl.db'}"
        return
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def ranges_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped ranges/ directory, free to edit."""
    target = tmp_path / "ranges"
    shutil.copytree(SHIPPED_RANGES, target)
    return target


def _load_ranges(
    ranges_dir: Path,
    *,
    defaults: bool = True,
    customers: list[str] | None = None,
    require: bool = False,
):
    """The catalog, the defaults file and customer files (None: all) of a ranges dir as a
    RangeSet, every problem collected (a test helper: kpictl itself loads through
    RangeDir, which raises on invalid files)."""
    from kpictl.rangefiles import RangeSet, load_catalog, load_into, range_file_paths

    wanted, extra = range_file_paths(
        ranges_dir, defaults=defaults, customers=customers, require=require
    )
    catalog, problems = load_catalog(ranges_dir / "kpis.yaml")
    rangeset = RangeSet(catalog=catalog, problems=problems)
    load_into(rangeset, wanted)
    rangeset.problems += extra
    return rangeset


@pytest.fixture
def load_ranges():
    """``load_ranges(dir, defaults=, customers=, require=)``: a ranges dir as a RangeSet."""
    return _load_ranges


@dataclass
class Kpictl:
    """Runs the real Typer application against one database and ranges directory."""

    db_url: str
    ranges_dir: Path

    def __call__(self, *args: str, input: str | None = None, expect: int | None = 0):
        from kpictl.cli.app import app

        runner = CliRunner()
        env = {
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "KPICTL_DATABASE_URL": self.db_url,
            "KPICTL_RANGES_DIR": str(self.ranges_dir),
            "KPICTL_DEBUG": "",
        }
        result = runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (
                f"kpictl {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
                f"{result.output}"
            )
        return result


@pytest.fixture
def kpictl(db_url: str, ranges_dir: Path) -> Kpictl:
    return Kpictl(db_url, ranges_dir)


@pytest.fixture
def db_snapshot():
    """Call with a database URL: every row of every kpictl table, to prove nothing changed."""
    from tests.helpers.db import snapshot

    return snapshot
