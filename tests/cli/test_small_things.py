"""Issue 13 §4: one "Did you mean", conflicting options refused naming both, global
options after the command explained, completion attached wherever a slug or KPI goes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

CONFLICTS = [
    (["score", "acme", "--all"], "SLUG", "--all"),
    (["score", "--all", "--set", "error_rate_pct=1"], "--all", "--set"),
    (["score", "--all", "--values", "v.yaml"], "--all", "--values"),
    (["score", "--all", "--explain"], "--all", "--explain"),
    (["score", "acme", "--save"], "SLUG", "--save"),
    (["score", "acme", "--fail-under", "40"], "SLUG", "--fail-under"),
    (["seed", "--all", "--customer", "acme"], "--all", "--customer"),
    (["seed", "--defaults", "--all"], "--all", "--defaults"),
    (["diff", "--all", "--customer", "acme"], "--all", "--customer"),
    (["diff", "--all", "--defaults"], "--all", "--defaults"),
    (["diff", "--customer", "acme", "--defaults"], "--customer", "--defaults"),
    (["list", "--customer", "x", "--defaults"], "--customer", "--defaults"),
    (["list", "--own", "--defaults"], "--own", "--defaults"),
    (["history", "--customer", "acme", "--defaults"], "--customer", "--defaults"),
]


@pytest.mark.parametrize(
    ("args", "first", "second"), CONFLICTS, ids=[" ".join(c[0]) for c in CONFLICTS]
)
def test_conflicting_options_are_refused_naming_both(
    kpictl, db_url, db_snapshot, args, first, second
) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    result = kpictl(*args, expect=2)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert first in errors[0] and second in errors[0], errors[0]
    assert "do not go together" in errors[0]
    assert db_snapshot(db_url) == before


def test_did_you_mean_is_said_once(kpictl) -> None:
    result = kpictl("lst", expect=2)
    assert result.output.count("Did you mean 'list'?") == 1, result.output


@pytest.mark.parametrize("option", ["--db", "--ranges"])
def test_a_global_option_after_the_command_says_where_it_goes(kpictl, option) -> None:
    result = kpictl("list", option, "x", expect=2)
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {option} is a global option: it goes before the command"
    assert lines[1].startswith(f"hint: kpictl {option} ") and lines[1].endswith(" list ...")


def complete(line: str, ranges: Path) -> list[str]:
    from kpictl.cli.app import app

    words = line.split()
    env = {
        "_KPICTL_COMPLETE": "complete_bash",
        "KPICTL_RANGES_DIR": str(ranges),
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) if line.endswith(" ") else len(words) - 1),
    }
    result = CliRunner().invoke(app, [], prog_name="kpictl", env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.parametrize(
    "line",
    [
        "kpictl score a",
        "kpictl export --customer a",
        "kpictl history --customer a",
        "kpictl history -c a",
        "kpictl observations list --customer a",
    ],
)
def test_slugs_complete_wherever_a_customer_goes(ranges_dir: Path, line: str) -> None:
    assert complete(line, ranges_dir) == ["acme"]


def test_kpi_names_complete_on_observations_and_score_set(ranges_dir: Path) -> None:
    assert complete("kpictl observations list -c acme --kpi error", ranges_dir) == [
        "error_rate_pct"
    ]
    assert complete("kpictl score acme --set error", ranges_dir) == ["error_rate_pct="]
