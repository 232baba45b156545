"""Tables at 60, 80, 100 and 120 columns: no status word, number, slug or KPI name is
ever cut or dropped; prose wraps or moves below; piped output is clean (issue 13 §1)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from kpictl.numbers import fmt_num, score_text
from kpictl.render.text import cell_len

LONG_SLUG = "northwind-traders-international-emea"  # as tests/render/conftest.py adds it

WIDTHS = (60, 80, 100, 120)
BOUNDS = ("critical_min", "critical_max", "risk_min", "risk_max", "healthy_min", "healthy_max")


def whole(token: str, output: str) -> bool:
    """Whether ``token`` appears in ``output`` whole: not as part of a longer word or
    number, and not broken across lines."""
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w.])", output) is not None


def range_tokens(rows: list[dict[str, Any]]) -> set[str]:
    tokens = set()
    for r in rows:
        tokens |= {r["kpi_name"], r["source"], fmt_num(r["weight"])}
        tokens |= {fmt_num(r[b]) for b in BOUNDS if r[b] is not None}
        if r["customer"]:
            tokens.add(r["customer"])
    return tokens


def isolation_tokens(data: dict[str, Any]) -> set[str]:
    tokens = set()
    for c in data["checks"]:
        tokens |= {c["name"], c["status"]}
        if c["status"] != "skipped":
            tokens.add(str(len(c["violations"])))
    return tokens


def score_tokens(card: dict[str, Any]) -> set[str]:
    tokens = {card["customer"], card["status"], score_text(card["score"])}
    for k in card["kpis"]:
        tokens |= {k["kpi_name"], k["status"], fmt_num(k["value"])}
    return tokens


def summary_tokens(rows: list[dict[str, Any]]) -> set[str]:
    tokens = set()
    for r in rows:
        tokens |= {r["customer"], r["status"] or ""}
        if r["score"] is not None:
            tokens.add(score_text(r["score"]))
    return tokens - {""}


def against_tokens(data: dict[str, Any]) -> set[str]:
    tokens = {data["left"], data["right"] or "defaults"}
    for k in data["kpis"]:
        tokens.add(k["kpi_name"])
        for side in (k["left"], k["right"]):
            if side:
                tokens |= {fmt_num(side[b]) for b in BOUNDS if side[b] is not None}
    return tokens


def history_tokens(rows: list[dict[str, Any]]) -> set[str]:
    tokens = set()
    for r in rows:
        tokens |= {f"v{r['version']}", r["applied_by"], r["sha256"][:12], str(r["adds"])}
        if r["scope"]:
            tokens.add(r["scope"])
    return tokens


def customer_tokens(rows: list[dict[str, Any]]) -> set[str]:
    return {t for r in rows for t in (r["slug"], str(r["own_ranges"]))}


def observation_tokens(rows: list[dict[str, Any]]) -> set[str]:
    return {t for r in rows for t in (r["kpi_name"], fmt_num(r["value"]))}


CASES: list[tuple[list[str], int, Callable[[Any], set[str]]]] = [
    (["verify-isolation"], 1, isolation_tokens),
    (["list"], 0, range_tokens),
    (["list", "--customer", "data-center"], 0, range_tokens),
    (["score", "data-center"], 0, score_tokens),
    (["diff", "--customer", "data-center", "--against", "defaults"], 1, against_tokens),
    (["history"], 0, history_tokens),
    (["customers", "list"], 0, customer_tokens),
    (["score", "--all"], 0, summary_tokens),
    (["observations", "list", "--customer", "data-center"], 0, observation_tokens),
]


@pytest.mark.parametrize("columns", WIDTHS)
def test_nothing_that_matters_is_cut_or_dropped(wide, columns: int) -> None:
    for args, code, tokens_of in CASES:
        data = json.loads(wide(*args, "-o", "json", expect=code).stdout)
        tokens = tokens_of(data)
        assert tokens, args
        table = wide(*args, columns=columns, expect=code).stdout
        missing = sorted(t for t in tokens if not whole(t, table))
        assert missing == [], f"kpictl {' '.join(args)} at {columns} columns:\n{table}"
        assert "…" not in table
        for line in table.splitlines():
            assert line == line.rstrip(), f"trailing spaces: {line!r}"
            # only a single word too long for any line may be wider than the terminal
            assert cell_len(line) <= columns or " " not in line.strip(), (args, line)


def test_verify_isolation_shows_the_failure_at_every_width(wide) -> None:
    for columns in WIDTHS:
        out = wide("verify-isolation", columns=columns, expect=1).stdout
        assert re.search(r"no_orphan_rows\s+failed\s+1\b", out) or (
            "check:" in out and "result:     failed" in out
        ), out
        assert "which is not in customers" in " ".join(out.split())  # perhaps wrapped


def test_prose_gives_way_before_anything_else(wide) -> None:
    """At 120 columns one line per check; at 80 the description wraps; at 60 it moves
    to a line of its own under its check."""
    at_120 = wide("verify-isolation", columns=120, expect=1).stdout
    assert re.search(r"unique_customer_kpi +passed +0 +no \(customer_id, kpi_name\)", at_120)
    at_80 = wide("verify-isolation", columns=80, expect=1).stdout
    assert "what it proves" in at_80
    at_60 = wide("verify-isolation", columns=60, expect=1).stdout
    assert "what it proves" not in at_60
    assert re.search(r"^unique_customer_kpi +passed +0$", at_60, re.M)
    assert re.search(r"^    no \(customer_id, kpi_name\) pair appears twice$", at_60, re.M)


def test_a_table_too_wide_for_its_key_columns_is_stacked(wide) -> None:
    out = wide("list", "--customer", "data-center", columns=60).stdout
    assert re.search(r"^kpi: +invocation_velocity_change_pct$", out, re.M)
    assert re.search(r"^critical: +< -15$", out, re.M)
    wide_out = wide("list", "--customer", "data-center", columns=200).stdout
    assert re.search(r"^invocation_velocity_change_pct +< -15 +-15 – 0 +≥ 0 +2", wide_out, re.M)


def test_one_table_style_everywhere(wide) -> None:
    """Title, header, a rule of dashes, rows: no box characters in any table."""
    for args, code, _ in CASES:
        out = wide(*args, expect=code).stdout
        assert not set(out) & set("│┃─━┏┓┗┛╭╮╰╯┡┩"), args
        if args[0] not in ("score",) or "--all" in args:
            assert re.search(r"^-+( {3}-+)+$", out, re.M), (args, out)


def test_piped_output_has_no_width_limit_and_no_padding(wide) -> None:
    from typer.testing import CliRunner

    from kpictl.cli.app import app

    env = {
        "NO_COLOR": "1",
        "COLUMNS": "",
        "KPICTL_DATABASE_URL": wide.db_url,
        "KPICTL_RANGES_DIR": str(wide.ranges_dir),
    }
    out = CliRunner().invoke(app, ["verify-isolation"], env=env).stdout
    assert re.search(r"^unique_customer_kpi +passed +0 +no \(customer_id", out, re.M)
    for line in out.splitlines():
        assert line == line.rstrip() and (line.strip() or not line)
    assert LONG_SLUG in CliRunner().invoke(app, ["customers", "list"], env=env).stdout


@pytest.mark.parametrize(
    "env",
    [{"NO_COLOR": "1"}, {"NO_COLOR": "", "TERM": "xterm"}],
    ids=["NO_COLOR", "not-a-terminal"],
)
def test_no_escape_sequences_without_colour(wide, env: dict[str, str]) -> None:
    for args, code, _ in [*CASES, (["diff"], 1, None), (["seed", "--all", "--dry-run"], 0, None)]:
        result = wide(*args, expect=code, env=env)
        assert "\x1b" not in result.stdout + result.stderr, args
    result = wide("--no-color", "score", "data-center", env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    assert "\x1b" not in result.stdout + result.stderr


def test_force_color_forces_them(wide) -> None:
    result = wide("score", "data-center", env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    assert "\x1b[1m" in result.stdout  # bold
    assert "\x1b[33mrisk" in result.stdout  # yellow
    out = wide("verify-isolation", expect=1, env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    assert "\x1b[1m\x1b[31mfailed" in out.stdout
    assert "\x1b[1m\x1b[31merror:" in out.stderr
