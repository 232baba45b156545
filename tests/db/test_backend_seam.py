"""``if dialect`` lives in kpictl/backends/ (and in the migrations) and nowhere else:
the rest of kpictl asks the backend for a named capability or method."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kpictl.backends import backend_for

PACKAGE = Path(__file__).resolve().parents[2] / "kpictl"
ALLOWED = (PACKAGE / "backends", PACKAGE / "db" / "migrations")
DIALECT_TESTS = re.compile(
    r"dialect\.name|get_backend_name\(|drivername\s*==|is_postgresql\(|is_sqlite\("
    r"|sqlalchemy\.dialects\.(postgresql|sqlite)|==\s*[\"'](postgresql|sqlite)[\"']"
)


def test_no_dialect_branch_outside_the_backends() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(path.is_relative_to(allowed) for allowed in ALLOWED)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if DIALECT_TESTS.search(line)
    ]
    assert found == []


@pytest.mark.parametrize(
    ("name", "rls", "nulls_not_distinct", "arrays", "alters", "file"),
    [
        ("sqlite", False, False, False, False, True),
        ("postgresql", True, True, True, True, False),
    ],
)
def test_each_backend_states_its_capabilities(
    name: str, rls: bool, nulls_not_distinct: bool, arrays: bool, alters: bool, file: bool
) -> None:
    from sqlalchemy import make_url

    backend = backend_for(name)
    assert backend.name == name
    assert backend.supports_rls is rls
    assert backend.nulls_not_distinct is nulls_not_distinct
    assert backend.array_aggregates is arrays
    assert backend.alters_constraints is alters
    assert backend.schema_known
    url = make_url(f"{name}:///some.db" if name == "sqlite" else f"{name}://u@h/some")
    assert (backend.database_file(url) == Path("some.db")) is file
    assert backend_for("mysql").name == "mysql"
    assert not backend_for("mysql").schema_known
