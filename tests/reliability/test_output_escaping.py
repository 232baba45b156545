"""Output that the data cannot steer (issue 14 §4): every piece of data printed is
escaped for its medium. Rich markup in names is printed as written (no crash, no
hyperlink); control characters (ESC, CR, BEL) are shown as escapes in tables and
messages; CSV cells that a spreadsheet would run as formulas are neutralised (OWASP),
unless -o csv-raw."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url

CONTROL = ("\x1b", "\r", "\x07", "\x9b")
MARKUP_NAMES = ["[/red]", "[link=https://evil.example]click here[/link]", "[bold]x", "[/]"]
FORMULAS = [
    '=HYPERLINK("https://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
]


@contextmanager
def raw(db_url: str) -> Iterator[Connection]:
    """Data as a hand edit (psql, sqlite3) leaves it: past kpictl's own input checks."""
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def add_by_hand(db_url: str, slug: str, name: str) -> None:
    with raw(db_url) as conn:
        conn.execute(
            text(
                "INSERT INTO customers (slug, name, created_at) VALUES (:s, :n, CURRENT_TIMESTAMP)"
            ),
            {"s": slug, "n": name},
        )


def run(kpictl, env: dict[str, str], *args: str):
    """``kpictl ARGS`` with ``env`` over the fixture's environment (colour forced, say)."""
    from typer.testing import CliRunner

    from kpictl.cli.app import app

    base = {
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "KPICTL_DATABASE_URL": kpictl.db_url,
        "KPICTL_RANGES_DIR": str(kpictl.ranges_dir),
        "KPICTL_DEBUG": "",
    }
    result = CliRunner().invoke(app, list(args), env={**base, **env}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def no_control(output: str) -> None:
    for char in CONTROL:
        assert char not in output, f"{char!r} reached the terminal raw: {output!r}"


# -- Rich markup -------------------------------------------------------------------------


@pytest.mark.parametrize("env", [{}, {"NO_COLOR": "", "FORCE_COLOR": "1"}], ids=["plain", "colour"])
def test_markup_in_display_names_is_printed_as_written(kpictl, env) -> None:
    for n, name in enumerate(MARKUP_NAMES):
        kpictl("customers", "add", f"markup-{n}", "--name", name)
    result = run(kpictl, env, "customers", "list")
    for name in MARKUP_NAMES:
        assert name in result.stdout
    assert "\x1b]8;" not in result.stdout  # no OSC 8 hyperlink
    listed = run(kpictl, env, "score", "--all")
    assert "markup-1" in listed.stdout


def test_markup_and_escapes_in_applied_by_do_not_steer_history(kpictl, monkeypatch) -> None:
    monkeypatch.setenv("KPICTL_APPLIED_BY", "[/red]\x1b[2J\r[link=https://x]y[/link]")
    kpictl("seed", "--all")
    for env in ({}, {"NO_COLOR": "", "FORCE_COLOR": "1"}):
        out = run(kpictl, env, "history").stdout
        assert "[/red]\\x1b[2J\\r[link=https://x]y[/link]" in out
        no_control(out.replace("\x1b[0m", "").replace("\x1b[1m", ""))  # only kpictl's styles
        assert "\x1b[2J" not in out and "\x1b]8;" not in out


# -- control characters ------------------------------------------------------------------


def test_control_characters_in_stored_names_are_shown_visibly(kpictl, db_url) -> None:
    kpictl("seed", "--all")
    add_by_hand(db_url, "evil\x1b[2J", "Evil\x1b]0;owned\x07\r\x9bCorp")
    result = kpictl("customers", "list")
    no_control(result.stdout)
    assert "evil\\x1b[2J" in result.stdout
    assert "Evil\\x1b]0;owned\\x07\\r\\x9bCorp" in result.stdout
    summary = kpictl("score", "--all")
    no_control(summary.stdout + summary.stderr)
    assert "evil\\x1b[2J" in summary.stdout


def test_escape_sequences_in_yaml_keys_and_values_are_shown_visibly(kpictl, ranges_dir) -> None:
    acme = ranges_dir / "customers" / "acme.yaml"
    acme.write_text(
        "apiVersion: kpictl/v1\ncustomer: acme\n"
        'name: "Acme\\e[2J\\r"\nversion: 1\nranges:\n'
        '  "error\\e[31m_rate\\a":\n    healthy: {max: 1}\n'
    )
    for args in (["validate"], ["seed", "--all"], ["diff"]):
        result = kpictl(*args, expect=None)
        assert result.exit_code in (1, 2), result.output
        no_control(result.stdout + result.stderr)
        assert "error\\x1b[31m_rate\\x07" in result.stderr


def test_escape_sequences_in_file_names_are_shown_visibly(kpictl, ranges_dir) -> None:
    source = (ranges_dir / "customers" / "acme.yaml").read_text()
    (ranges_dir / "customers" / "x\x1b[2J\r.yaml").write_text(source)
    result = kpictl("validate", expect=1)
    no_control(result.stdout + result.stderr)
    assert "x\\x1b[2J\\r.yaml" in result.stderr


def test_escape_sequences_in_values_keys_are_shown_visibly(kpictl, tmp_path: Path) -> None:
    kpictl("seed", "--all")
    values = tmp_path / "values.yaml"
    values.write_text('"osc\\e]0;owned\\a": 1\n"\\e[2Jclear": 2\n')
    result = kpictl("score", "globex", "--values", str(values), expect=2)
    no_control(result.stdout + result.stderr)
    assert "\\x1b" in result.stderr


def test_a_hand_inserted_slug_with_controls_cannot_clear_the_screen(kpictl, db_url) -> None:
    kpictl("seed", "--all")
    add_by_hand(db_url, "x\x01\x1b[H\x1b[2J", "X")
    for args in (["customers", "list"], ["score", "--all"], ["list"]):
        result = kpictl(*args)
        no_control(result.stdout + result.stderr)


# -- CSV injection -----------------------------------------------------------------------


def csv_rows(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


def test_csv_neutralises_formulas_but_not_numbers(kpictl, db_url) -> None:
    kpictl("seed", "--all")
    for n, formula in enumerate(FORMULAS):
        add_by_hand(db_url, f"formula-{n}", formula)
    names = {
        r["slug"]: r["name"] for r in csv_rows(kpictl("customers", "list", "-o", "csv").stdout)
    }
    for n, formula in enumerate(FORMULAS):
        assert names[f"formula-{n}"] == "'" + formula
    assert names["acme"] == "Acme Corp"
    # numbers are numbers: a negative bound is not a formula
    ranges = csv_rows(kpictl("list", "--defaults", "-o", "csv").stdout)
    velocity = next(r for r in ranges if r["kpi_name"] == "invocation_velocity_change_pct")
    assert velocity["critical_max"] == "-20" and velocity["risk_min"] == "-20"


def test_csv_raw_writes_every_cell_as_it_is(kpictl, db_url) -> None:
    kpictl("seed", "--all")
    for n, formula in enumerate(FORMULAS):
        add_by_hand(db_url, f"formula-{n}", formula)
    out = kpictl("customers", "list", "-o", "csv-raw").stdout
    names = {r["slug"]: r["name"] for r in csv_rows(out)}
    for n, formula in enumerate(FORMULAS):
        assert names[f"formula-{n}"] == formula


def test_formulas_in_applied_by_and_messages_are_neutralised(kpictl, monkeypatch) -> None:
    monkeypatch.setenv("KPICTL_APPLIED_BY", "=cmd|'/c calc'!A1")
    kpictl("seed", "--all")
    rows = csv_rows(kpictl("history", "-o", "csv").stdout)
    assert {r["applied_by"] for r in rows} == {"'=cmd|'/c calc'!A1"}
    raw_rows = csv_rows(kpictl("history", "-o", "csv-raw").stdout)
    assert {r["applied_by"] for r in raw_rows} == {"=cmd|'/c calc'!A1"}
