"""Shell completion: Typer's own install/show options, and customer slugs and KPI names
completed from the ranges directory (files only: no database, no SQLAlchemy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpictl.cli.completion import complete_kpi_assignment, customer_slugs, kpi_names

REPO = Path(__file__).resolve().parents[2]


def complete(line: str, *, ranges: Path | None = None, shell: str = "bash") -> list[str]:
    """What the shell gets for the command line ``line`` (the cursor at its end)."""
    from kpictl.cli.app import app

    env = {"_KPICTL_COMPLETE": f"complete_{shell}", "KPICTL_RANGES_DIR": str(ranges or "")}
    if shell == "bash":
        words = line.split()
        env |= {
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) if line.endswith(" ") else len(words) - 1),
        }
    else:
        env["_TYPER_COMPLETE_ARGS"] = line
    result = CliRunner().invoke(app, [], prog_name="kpictl", env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line]


def test_customer_slugs_from_the_ranges_dir(ranges_dir: Path) -> None:
    assert complete("kpictl seed --customer ", ranges=ranges_dir) == [
        "acme",
        "data-center",
        "globex",
    ]
    assert complete("kpictl seed -c d", ranges=ranges_dir) == ["data-center"]
    assert complete("kpictl list --customer a", ranges=ranges_dir) == ["acme"]


def test_slugs_already_given_are_not_offered_again(ranges_dir: Path) -> None:
    assert complete("kpictl seed -c acme -c ", ranges=ranges_dir) == ["data-center", "globex"]


def test_the_global_ranges_option_wins(ranges_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "customers").mkdir(parents=True)
    (other / "customers" / "initech.yaml").write_text("")
    line = f"kpictl --ranges {other} seed --customer "
    assert complete(line, ranges=ranges_dir) == ["initech"]


def test_kpi_names_from_the_catalog(ranges_dir: Path) -> None:
    assert complete("kpictl list --kpi error", ranges=ranges_dir) == ["error_rate_pct"]
    assert len(complete("kpictl list --kpi ", ranges=ranges_dir)) == 10


def test_kpi_assignments_for_set_options(ranges_dir: Path) -> None:
    import typer

    from kpictl.cli.app import app

    command = typer.main.get_command(app)
    ctx = command.context_class(command, info_name="kpictl")
    ctx.params["ranges"] = str(ranges_dir)
    assert complete_kpi_assignment(ctx, "error") == [
        ("error_rate_pct=", "Failed invocations, percent of all invocations (percent)")
    ]
    assert complete_kpi_assignment(ctx, "error_rate_pct=") == []


def test_zsh_gets_the_kpi_descriptions(ranges_dir: Path) -> None:
    out = complete("kpictl list --kpi p95", ranges=ranges_dir, shell="zsh")
    assert out == [
        '_arguments \'*: :(("p95_latency_ms":"95th percentile of invocation latency (ms)"))\''
    ]


def test_nothing_to_complete_is_no_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert complete("kpictl seed --customer ", ranges=missing) == []
    assert complete("kpictl list --kpi ", ranges=missing) == []
    (tmp_path / "kpis.yaml").write_text("kpis: [not, a, mapping]\n")
    assert complete("kpictl list --kpi ", ranges=tmp_path) == []
    (tmp_path / "kpis.yaml").write_text("{{{")
    assert kpi_names(tmp_path) == []


def test_only_valid_slugs_are_offered(tmp_path: Path) -> None:
    customers = tmp_path / "customers"
    customers.mkdir()
    for name in ("ok.yaml", "Bad_Slug.yaml", "skip.yml", ".hidden.yaml"):
        (customers / name).write_text("")
    (customers / "dir.yaml").mkdir()
    assert customer_slugs(tmp_path) == ["ok"]


def test_a_catalog_refused_for_another_reason_still_completes(tmp_path: Path) -> None:
    (tmp_path / "kpis.yaml").write_text(
        "apiVersion: kpictl/v1\nkpis:\n  a_kpi: {unit: n}\n  b_kpi: {description: B}\n"
    )
    assert kpi_names(tmp_path) == [("a_kpi", "n"), ("b_kpi", "B")]


@pytest.mark.parametrize(
    ("shell", "start"),
    [("bash", "_kpictl_completion()"), ("zsh", "#compdef kpictl"), ("fish", "complete")],
)
def test_the_completion_script_of_each_shell(shell: str, start: str) -> None:
    # what README tells to run for a manual install, e.g.
    # _KPICTL_COMPLETE=source_zsh kpictl > ~/.zfunc/_kpictl
    from kpictl.cli.app import app

    result = CliRunner().invoke(
        app, [], prog_name="kpictl", env={"_KPICTL_COMPLETE": f"source_{shell}"}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith(start)
    assert "_KPICTL_COMPLETE" in result.stdout


def test_typer_offers_install_and_show_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    from kpictl.cli.app import app

    # --show-completion detects the user's shell; Typer's switch for tests takes its name
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = CliRunner().invoke(
        app, ["--show-completion", "zsh"], prog_name="kpictl", catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("#compdef kpictl")


def test_completion_does_not_import_the_database_layer(ranges_dir: Path) -> None:
    code = (
        "import sys\n"
        "from kpictl.cli import main\n"
        "sys.argv = ['kpictl']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')]\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    env = {
        **os.environ,
        "_KPICTL_COMPLETE": "complete_bash",
        "COMP_WORDS": "kpictl list --customer ",
        "COMP_CWORD": "3",
        "KPICTL_RANGES_DIR": str(ranges_dir),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert out.stdout.split() == ["acme", "data-center", "globex"]
    assert out.stderr == "[]"
