"""SQL in filters: a slug or KPI name such as ``'; DROP TABLE customers; --`` reaches
the database only as a bound parameter, never as SQL text. Proved by watching every
statement kpictl sends (its text and its parameters) while the real CLI runs, and by
the tables and rows being intact afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from tests.helpers.reliability import assert_one_clean_error

PAYLOADS = [
    "'; DROP TABLE customers; --",
    "acme' OR '1'='1",
    'acme"; DELETE FROM kpi_reference_ranges; --',
    "acme%",
    "acme\\'; SELECT pg_sleep(10); --",
]

# (arguments, exit code, message); PAYLOAD is replaced by each payload
FILTERS = [
    (["list", "--customer", "PAYLOAD"], 2, "unknown customer"),
    (["list", "--customer", "PAYLOAD", "--own"], 2, "unknown customer"),
    (["list", "--kpi", "PAYLOAD"], 2, "unknown KPI"),
    (["diff", "--customer", "acme", "--against", "PAYLOAD"], 2, "unknown customer"),
    (["export", "--customer", "PAYLOAD"], 2, "unknown customer"),
    (["history", "--customer", "PAYLOAD"], 2, "unknown customer"),
    (["verify-isolation", "--customer", "PAYLOAD"], 2, "unknown customer"),
    (["score", "PAYLOAD"], 2, "unknown customer"),
    (["score", "acme", "--set", "PAYLOAD=1"], 2, "unknown KPI"),
    (["observations", "list", "--customer", "PAYLOAD"], 2, "unknown customer"),
    (["observations", "list", "--customer", "acme", "--kpi", "PAYLOAD"], 2, "unknown KPI"),
    (["customers", "remove", "PAYLOAD", "--yes"], 2, "unknown customer"),
    (["customers", "add", "PAYLOAD", "--name", "x"], 2, "invalid customer slug"),
    (["seed", "--customer", "PAYLOAD"], 2, "slug"),
]


@contextmanager
def statements() -> Iterator[list[tuple[str, Any]]]:
    """Every (SQL text, parameters) kpictl sends inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def bound_values(parameters: Any) -> list[Any]:
    """The values of one statement's parameters (a dict, a tuple, or a list of them)."""
    if isinstance(parameters, dict):
        return list(parameters.values())
    if isinstance(parameters, (list, tuple)):
        return (
            [v for p in parameters for v in bound_values(p)]
            if parameters and isinstance(parameters[0], (dict, list, tuple))
            else list(parameters)
        )
    return [parameters]


def test_a_payload_in_a_filter_is_only_ever_a_parameter(kpictl, db_url, db_snapshot):
    kpictl("seed", "--all")
    kpictl("observations", "import", str(Path(__file__).parents[2] / "samples/observations.csv"))
    before = db_snapshot(db_url)
    for template, code, message in FILTERS:
        for payload in PAYLOADS:
            args = [payload if a == "PAYLOAD" else a for a in template]
            with statements() as seen:
                result = kpictl(*args, expect=None)
            line = assert_one_clean_error(result, code)
            assert message in line, (args, line)
            for sql, _parameters in seen:
                assert payload not in sql, (args, sql)
    assert db_snapshot(db_url) == before  # every table there, every row unchanged


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--kpi", "PAYLOAD"],
        ["list", "--defaults", "--kpi", "PAYLOAD"],
        ["observations", "list", "--customer", "acme", "--kpi", "PAYLOAD"],
    ],
    ids=["list", "list-defaults", "observations-list"],
)
def test_without_a_catalog_a_kpi_filter_reaches_sql_as_a_parameter(
    kpictl, ranges_dir, db_url, db_snapshot, args: list[str]
) -> None:
    """With no kpis.yaml to check a name against, the name goes to the database: as data."""
    kpictl("seed", "--all")
    kpictl("observations", "import", str(Path(__file__).parents[2] / "samples/observations.csv"))
    (ranges_dir / "kpis.yaml").unlink()
    before = db_snapshot(db_url)
    for payload in PAYLOADS:
        with statements() as seen:
            result = kpictl(*[payload if a == "PAYLOAD" else a for a in args], expect=None)
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
        assert all(payload not in sql for sql, _ in seen)
        bound = [p for _sql, p in seen if payload in bound_values(p)]
        if result.exit_code == 0:
            assert bound, "the payload never reached the database"
            assert "error:" not in result.stderr
    assert db_snapshot(db_url) == before


def test_customer_names_with_sql_are_data(kpictl, db_url, db_snapshot) -> None:
    name = "Robert'); DROP TABLE customers; --"
    with statements() as seen:
        kpictl("customers", "add", "bobby", "--name", name)
    assert all(name not in sql for sql, _ in seen)  # data: a parameter, or COPY's stream
    assert "customers" in db_snapshot(db_url)
    assert name in kpictl("customers", "list").stdout
