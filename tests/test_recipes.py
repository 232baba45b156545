"""The recipes users copy: the pre-commit hooks and the GitHub Actions workflow run real
kpictl command lines, and the workflow fails on the right exit codes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpictl.rangefiles.yamlstrict import read_yaml

REPO = Path(__file__).resolve().parent.parent
HOOKS = REPO / ".pre-commit-hooks.yaml"
WORKFLOW = REPO / "docs" / "ci" / "ranges.yml"
SHELL_OPERATORS = {">", ">>", "2>", "|", "||", "&&", ";", "&"}


def run_kpictl(args: list[str], env: dict[str, str] | None = None):
    from kpictl.cli.app import app

    env = {"NO_COLOR": "1", "COLUMNS": "200", "KPICTL_DEBUG": "", **(env or {})}
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


# -- pre-commit ---------------------------------------------------------------------


def hooks() -> list[dict]:
    import yaml

    return yaml.safe_load(HOOKS.read_text())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository that holds range files and their schemas, as the cwd."""
    shutil.copytree(REPO / "ranges", tmp_path / "ranges")
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KPICTL_RANGES_DIR", raising=False)
    return tmp_path


def test_the_hooks_are_python_hooks_of_the_kpictl_script() -> None:
    found = {hook["id"]: hook for hook in hooks()}
    assert set(found) == {"kpictl-validate", "kpictl-schema"}
    for hook in found.values():
        assert hook["language"] == "python"
        assert hook["entry"] == "kpictl"  # the console script of pyproject.toml
        assert hook["pass_filenames"] is False
        assert hook["name"] and hook["description"]
    assert found["kpictl-validate"]["args"] == ["validate"]


@pytest.mark.parametrize(
    ("path", "hook_ids"),
    [
        ("ranges/kpis.yaml", {"kpictl-validate", "kpictl-schema"}),
        ("ranges/defaults.yaml", {"kpictl-validate"}),
        ("ranges/customers/acme.yaml", {"kpictl-validate"}),
        ("ranges/customers/acme.yml", {"kpictl-validate"}),
        ("schemas/customer.schema.json", {"kpictl-schema"}),
        ("README.md", set()),
        ("other/ranges/kpis.yaml", set()),
    ],
)
def test_which_files_trigger_which_hook(path: str, hook_ids: set[str]) -> None:
    assert {h["id"] for h in hooks() if re.search(h["files"], path)} == hook_ids


@pytest.mark.parametrize("hook_id", ["kpictl-validate", "kpictl-schema"])
def test_each_hook_passes_on_the_shipped_files(project: Path, hook_id: str) -> None:
    (hook,) = [h for h in hooks() if h["id"] == hook_id]
    result = run_kpictl([*shlex.split(hook["entry"])[1:], *hook["args"]])
    assert result.exit_code == 0, result.output


def test_the_validate_hook_fails_on_a_bad_file(project: Path) -> None:
    (hook,) = [h for h in hooks() if h["id"] == "kpictl-validate"]
    acme = project / "ranges" / "customers" / "acme.yaml"
    acme.write_text(acme.read_text().replace("weight: 3", "weight: three"))
    result = run_kpictl(hook["args"])
    assert result.exit_code == 1
    assert "ranges.error_rate_pct.weight: must be a number" in result.stderr


def test_the_schema_hook_fails_when_the_catalog_changed(project: Path) -> None:
    (hook,) = [h for h in hooks() if h["id"] == "kpictl-schema"]
    catalog = project / "ranges" / "kpis.yaml"
    catalog.write_text(catalog.read_text() + "  new_kpi: {unit: count, better: higher}\n")
    assert run_kpictl(hook["args"]).exit_code == 1


# -- the GitHub Actions workflow ------------------------------------------------------


def workflow() -> dict:
    return read_yaml(WORKFLOW.read_bytes()).data  # YAML 1.2: `on` stays a string


def run_scripts() -> list[tuple[str, str]]:
    """(job, script) of every `run:` step."""
    out = []
    for name, job in workflow()["jobs"].items():
        out += [(name, step["run"]) for step in job["steps"] if "run" in step]
    return out


def kpictl_lines() -> list[list[str]]:
    """Every kpictl command line of the workflow, as argv after `kpictl`."""
    found = []
    for _job, script in run_scripts():
        for line in script.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] != ["kpictl"]:
                continue
            cut = next((i for i, w in enumerate(words) if w in SHELL_OPERATORS), len(words))
            found.append(words[1:cut])
    return found


def test_the_workflow_has_its_jobs_and_triggers() -> None:
    flow = workflow()
    assert set(flow["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert set(flow["jobs"]) == {"validate", "rehearse", "plan", "apply"}
    assert flow["jobs"]["apply"]["environment"] == "production"
    assert flow["jobs"]["plan"]["env"]["KPICTL_DATABASE_URL"].startswith("${{ secrets.")
    assert all(job.get("needs") == "validate" for n, job in flow["jobs"].items() if n != "validate")


def test_the_workflow_validates_diffs_and_verifies_isolation_with_junit() -> None:
    lines = [" ".join(words) for words in kpictl_lines()]
    assert "validate --strict" in lines
    assert "diff --all" in lines
    assert "seed --all" in lines
    assert any(re.fullmatch(r"verify-isolation --junit \S+\.xml", line) for line in lines)


@pytest.mark.parametrize("argv", kpictl_lines(), ids=lambda argv: " ".join(argv))
def test_every_kpictl_line_of_the_workflow_parses(argv: list[str]) -> None:
    # --help is eager: the options are parsed (an unknown one is exit 2), nothing runs
    result = run_kpictl([*argv, "--help"])
    assert result.exit_code == 0, result.output


def plan_script() -> str:
    (script,) = [s for job, s in run_scripts() if job == "plan" and "kpictl diff" in s]
    return script


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("diff_exit", "step_fails"), [(0, False), (1, False), (2, True), (3, True)]
)
def test_the_plan_step_fails_only_when_diff_could_not_tell(
    tmp_path: Path, diff_exit: int, step_fails: bool
) -> None:
    fake = tmp_path / "bin" / "kpictl"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "plan of kpictl $*"\nexit {diff_exit}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    # GitHub runs `run:` scripts with `bash -e {0}`
    result = subprocess.run(
        ["bash", "-e", "-c", plan_script()], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert (result.returncode != 0) is step_fails, result.stdout + result.stderr
    if step_fails:
        assert result.returncode == diff_exit
    assert "plan of kpictl diff --all" in summary.read_text()
