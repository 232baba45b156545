"""A KPICTL_DATABASE_URL or KPICTL_RANGES_DIR that is set but empty or blank (what CI
gives for a missing secret) is an error naming the variable: exit 2, no fall back to
./kpictl.db or ./ranges, no file created (issue 13 §2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner


def run(args: list[str], env: dict[str, str], cwd: Path, monkeypatch: pytest.MonkeyPatch):
    from kpictl.cli.app import app

    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, args, env={"NO_COLOR": "1", **env}, catch_exceptions=False)


def one_error(result) -> tuple[str, str]:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line]
    assert lines[0].startswith("error: "), result.stderr
    assert len([line for line in lines if line.startswith("error:")]) == 1, result.stderr
    return lines[0], "\n".join(lines[1:])


@pytest.mark.parametrize("value", ["", " ", "\t \n"])
@pytest.mark.parametrize(
    "args", [["diff", "--all"], ["list"], ["seed", "--all"], ["history"], ["init"]]
)
def test_an_empty_database_url_is_refused(
    value: str, args: list[str], ranges_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    env = {"KPICTL_DATABASE_URL": value, "KPICTL_RANGES_DIR": str(ranges_dir)}
    line, hint = one_error(run(args, env, tmp_path, monkeypatch))
    assert line == "error: KPICTL_DATABASE_URL is set but empty"
    assert "--db" in hint
    assert not (tmp_path / "kpictl.db").exists()


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_ranges_dir_is_refused(
    value: str, kpictl, db_url: str, db_snapshot, tmp_path: Path, monkeypatch
) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    assert (tmp_path / "ranges" / "kpis.yaml").is_file()  # what a fall back would read
    for args in (["validate"], ["seed", "--all"], ["diff"], ["score", "acme"]):
        env = {"KPICTL_DATABASE_URL": db_url, "KPICTL_RANGES_DIR": value}
        line, _ = one_error(run(args, env, tmp_path, monkeypatch))
        assert line == "error: KPICTL_RANGES_DIR is set but empty", args
    assert db_snapshot(db_url) == before


def test_empty_options_are_refused_by_name(ranges_dir: Path, tmp_path: Path, monkeypatch) -> None:
    env = {"KPICTL_RANGES_DIR": str(ranges_dir)}
    line, _ = one_error(run(["--db", "", "list"], env, tmp_path, monkeypatch))
    assert line == "error: --db is empty"
    line, _ = one_error(run(["--ranges", " ", "validate"], env, tmp_path, monkeypatch))
    assert line == "error: --ranges is empty"
    assert not (tmp_path / "kpictl.db").exists()


def test_an_option_wins_over_an_empty_variable(kpictl, db_url: str, tmp_path, monkeypatch) -> None:
    env = {"KPICTL_DATABASE_URL": "", "KPICTL_RANGES_DIR": str(kpictl.ranges_dir)}
    result = run(["--db", db_url, "seed", "--all"], env, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output


def test_completion_with_an_empty_ranges_dir_completes_nothing(tmp_path, monkeypatch) -> None:
    from kpictl.cli.app import app

    (tmp_path / "ranges" / "customers").mkdir(parents=True)  # what a fall back would read
    (tmp_path / "ranges" / "customers" / "fallback.yaml").write_text("")
    monkeypatch.chdir(tmp_path)
    env = {
        "_KPICTL_COMPLETE": "complete_bash",
        "COMP_WORDS": "kpictl seed --customer ",
        "COMP_CWORD": "3",
        "KPICTL_RANGES_DIR": "",
    }
    result = CliRunner().invoke(app, [], prog_name="kpictl", env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ""
