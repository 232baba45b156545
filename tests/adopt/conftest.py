"""Fixtures of the adoption tests: the original application (its Flask-SQLAlchemy
models and rows) as a module, a runner of the real CLI with a ranges directory of its
own, and the whole state of a database (schema and rows) to prove what changed."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from kpictl.db.engine import driver_url

HERE = Path(__file__).parent


def _load_legacy_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("legacy_app", HERE / "legacy_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_LEGACY = _load_legacy_app()


@pytest.fixture
def legacy() -> ModuleType:
    """The original application: models, rows, create_and_seed(url), answers(url)."""
    return _LEGACY


@dataclass
class Cli:
    """Runs the real Typer application against one database and ranges directory."""

    db_url: str
    ranges_dir: Path

    def __call__(self, *args: str, expect: int | None = 0, ranges: Path | None = None) -> Any:
        from kpictl.cli.app import app

        env = {
            "NO_COLOR": "1",
            "COLUMNS": "400",  # long tmp paths: plan lines stay whole
            "KPICTL_DATABASE_URL": self.db_url,
            "KPICTL_RANGES_DIR": str(ranges or self.ranges_dir),
            "KPICTL_DEBUG": "",
            "KPICTL_APPLIED_BY": "adopt-test",
        }
        result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (
                f"kpictl {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
                f"{result.output}"
            )
        return result


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    """The CLI on the test database, with an empty ranges directory (no catalog)."""
    return Cli(db_url, tmp_path / "ranges")


def database_state(url: str) -> dict[str, Any]:
    """Every table's columns, indexes, constraints and rows (PostgreSQL: also row-level
    security, policies and privileges): equal before and after means nothing changed."""
    engine = create_engine(driver_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            state: dict[str, Any] = {}
            for table in sorted(insp.get_table_names()):
                state[table] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                        for c in insp.get_columns(table)
                    ],
                    "indexes": sorted(_plain(i) for i in insp.get_indexes(table)),
                    "unique": sorted(
                        repr(sorted(u.items())) for u in insp.get_unique_constraints(table)
                    ),
                    "rows": sorted(
                        repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{table}"'))
                    ),
                }
            if conn.dialect.name == "postgresql":
                state["_rls"] = sorted(
                    tuple(r)
                    for r in conn.execute(
                        text(
                            "SELECT c.relname, c.relrowsecurity, c.relacl::text, p.polname "
                            "FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid "
                            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
                        )
                    )
                )
            else:
                state["_sqlite_master"] = sorted(
                    tuple(r)
                    for r in conn.execute(text("SELECT type, name, sql FROM sqlite_master"))
                )
            return state
    finally:
        engine.dispose()


def _plain(index: Any) -> str:
    """An index as text (a partial index's predicate is an object: its SQL, not its id)."""
    options = {k: str(v) for k, v in index.get("dialect_options", {}).items()}
    return repr(sorted({**index, "dialect_options": options}.items()))


def original_rows(url: str, columns: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """The application's own columns of its tables, row by row, exactly (repr of each
    value: a float's repr gives back the same bits, -0.0 included)."""
    engine = create_engine(driver_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            out = {}
            for table, cols in columns.items():
                quoted = ", ".join(f'"{c}"' for c in cols)
                rows = conn.execute(text(f'SELECT {quoted} FROM "{table}" ORDER BY 1'))
                out[table] = [repr(tuple((type(v).__name__, v) for v in r)) for r in rows]
            return out
    finally:
        engine.dispose()


def column_definitions(url: str, columns: dict[str, tuple[str, ...]]) -> dict[str, list[Any]]:
    """Type, nullability and default of the application's own columns."""
    engine = create_engine(driver_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            return {
                table: [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in insp.get_columns(table)
                    if c["name"] in cols
                ]
                for table, cols in columns.items()
            }
    finally:
        engine.dispose()


def execute(url: str, *statements: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Run statements in one transaction as a user with psql would (SQLite: foreign keys
    off, its default); returns the rows of the last one if it has any."""
    engine = create_engine(driver_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = None
            for statement in statements:
                result = conn.execute(text(statement), params or {})
            return list(result) if result is not None and result.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def state() -> Callable[[str], dict[str, Any]]:
    return database_state


@pytest.fixture
def helpers() -> SimpleNamespace:
    """original_rows, column_definitions, execute and database_state, for the tests."""
    return SimpleNamespace(
        original_rows=original_rows,
        column_definitions=column_definitions,
        execute=execute,
        database_state=database_state,
    )
