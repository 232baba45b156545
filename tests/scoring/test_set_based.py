"""score --all reads in a fixed number of queries, whatever the number of customers;
the scoring core imports neither Typer nor Rich; statuses are coloured."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from kpictl import api
from kpictl.scoring import verbs as scores
from kpictl.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def statements_of(fn) -> tuple[object, list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        result = fn()
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    return result, seen


def add_customers(settings: Settings, slugs: list[str]) -> None:
    for slug in slugs:
        api.add_customer(settings, slug, name=slug.title())
    lines = ["customer,kpi_name,value,observed_at"]
    for i, slug in enumerate(slugs):
        lines.append(f"{slug},error_rate_pct,{i % 7},2026-11-27T06:00:00Z")
        lines.append(f"{slug},daily_invocations,{100 * i},2026-11-27T06:00:00Z")
    data = io.BytesIO(("\n".join(lines) + "\n").encode())
    api.import_observations(settings, data)


def test_score_all_runs_the_same_queries_for_3_or_40_customers(db_url, ranges_dir) -> None:
    settings = Settings(database_url=db_url, ranges_dir=ranges_dir)
    api.seed(settings, all=True)
    add_customers(settings, [f"c{i:02d}" for i in range(3)])
    small, small_statements = statements_of(lambda: scores.score_all(settings, save=True))
    add_customers(settings, [f"d{i:02d}" for i in range(37)])
    large, large_statements = statements_of(lambda: scores.score_all(settings, save=True))
    assert len(small.summaries) == 6 and len(large.summaries) == 43
    assert large.saved == 40  # data-center, acme and globex have no observations here
    assert len(large_statements) == len(small_statements), large_statements


@pytest.mark.parametrize("repeated", [False, True], ids=["distinct-keys", "repeated-keys"])
def test_an_import_is_a_fixed_number_of_statements(db_url, ranges_dir, repeated: bool) -> None:
    """Whatever the number of lines; a file that repeats a (customer, KPI, time) takes
    another (fixed) path on PostgreSQL, where the last line per key is picked first."""
    settings = Settings(database_url=db_url, ranges_dir=ranges_dir)
    api.seed(settings, all=True)
    header = "customer,kpi_name,value,observed_at\n"

    def run(n: int):
        rows = "".join(
            f"acme,error_rate_pct,{i},2026-10-{1 + i // 24 % 28:02d}T{i % 24:02d}:00Z\n"
            for i in range(n)
        )
        if repeated:
            rows += rows
        return api.import_observations(settings, io.BytesIO((header + rows).encode()))

    _result, few = statements_of(lambda: run(5))
    result, many = statements_of(lambda: run(600))
    assert result.rows == (1200 if repeated else 600)
    assert len(many) == len(few), many


def test_the_scoring_core_imports_neither_typer_nor_rich() -> None:
    code = (
        "import sys, kpictl.scoring, kpictl.observations, kpictl.scoring.verbs\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr


def test_the_pure_core_imports_no_database_layer() -> None:
    code = (
        "import sys, kpictl.scoring\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'typer', 'rich')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr


def test_statuses_are_coloured_green_yellow_red(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kpictl.rangefiles.model import Band, KpiRange
    from kpictl.render import OutputFormat, Renderer, render_score_card
    from kpictl.scoring import score

    monkeypatch.delenv("NO_COLOR", raising=False)
    ranges = {
        name: KpiRange(name, critical=Band(max=1), risk=Band(1, 2), healthy=Band(min=2))
        for name in ("a", "b", "c")
    }
    card = score("x", {"a": 0, "b": 1, "c": 2}, ranges)
    monkeypatch.setenv("FORCE_COLOR", "1")  # colours although stdout is captured
    renderer = Renderer()
    render_score_card(renderer, card, OutputFormat.table)
    out = capsys.readouterr().out
    assert "\x1b[32mhealthy" in out  # green
    assert "\x1b[33mrisk" in out  # yellow
    assert "\x1b[31mcritical" in out  # red
