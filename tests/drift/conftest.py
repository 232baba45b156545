"""Helpers of the drift tests: SQL made by hand, and edits of range files."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url


class Sql:
    """Statements against the test database, outside kpictl: the 'hand' of hand edits."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    def __call__(self, statement: str, **params: Any) -> list[tuple]:
        engine = create_engine(driver_url(self.db_url), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()


@pytest.fixture
def sql(db_url: str) -> Sql:
    return Sql(db_url)


def edit(path: Path, old: str, new: str) -> None:
    content = path.read_text()
    assert old in content, f"{old!r} not in {path}"
    path.write_text(content.replace(old, new, 1))


def bump(path: Path) -> int:
    """Raise the file's version by one; returns the new version."""
    content = path.read_text()
    match = re.search(r"^version: (\d+)", content, re.M)
    assert match, path
    version = int(match.group(1)) + 1
    path.write_text(re.sub(r"^version: \d+", f"version: {version}", content, flags=re.M))
    return version


@pytest.fixture
def files() -> SimpleNamespace:
    """``files.edit(path, old, new)`` and ``files.bump(path)``."""
    return SimpleNamespace(edit=edit, bump=bump)
