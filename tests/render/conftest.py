"""Helpers of the render tests: the CLI at a chosen terminal width, and a database whose
tables have wide columns (a long slug and name, a planted orphan row)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from kpictl.db.engine import driver_url

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
LONG_SLUG = "northwind-traders-international-emea"
LONG_NAME = "Northwind Traders International (Europe, Middle East and Africa)"


@contextmanager
def raw(db_url: str) -> Iterator[Connection]:
    """A plain connection with the foreign keys off, to plant what kpictl would refuse."""
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            if db_url.startswith("postgresql"):
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            yield conn
    finally:
        engine.dispose()


@dataclass
class Cli:
    """The real Typer app against one database, at a chosen COLUMNS and colour setting."""

    db_url: str
    ranges_dir: Path

    def __call__(
        self,
        *args: str,
        columns: int = 200,
        expect: int | None = 0,
        env: dict[str, str] | None = None,
        input: str | None = None,
    ):
        from kpictl.cli.app import app

        base = {
            "NO_COLOR": "1",
            "FORCE_COLOR": "",
            "COLUMNS": str(columns),
            "KPICTL_DATABASE_URL": self.db_url,
            "KPICTL_RANGES_DIR": str(self.ranges_dir),
            "KPICTL_DEBUG": "",
        }
        result = CliRunner().invoke(
            app, list(args), env={**base, **(env or {})}, input=input, catch_exceptions=False
        )
        if expect is not None:
            assert result.exit_code == expect, (args, result.output)
        return result


@pytest.fixture
def cli(db_url: str, ranges_dir: Path) -> Cli:
    return Cli(db_url, ranges_dir)


@pytest.fixture
def wide(cli: Cli, db_url: str) -> Cli:
    """Seeded, observations imported, scores saved, a customer with a long slug and name,
    and an orphan range row (so verify-isolation fails and shows its violations)."""
    cli("seed", "--all")
    cli("customers", "add", LONG_SLUG, "--name", LONG_NAME)
    cli("observations", "import", str(SAMPLES / "observations.csv"))
    cli("score", "--all", "--save")
    with raw(db_url) as conn:
        conn.execute(
            text(
                "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, weight, updated_at) "
                "VALUES (999, 'invocation_velocity_change_pct', 1, CURRENT_TIMESTAMP)"
            )
        )
    return cli
