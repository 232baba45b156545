"""The recipes users copy: the pre-commit hooks and the GitHub Actions workflow run real
kpictl command lines, and the workflow fails on the right exit codes. The workflow's
jobs run as written against a local PostgreSQL, kpictl installed the way they install it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpictl import __version__
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


# -- the workflow, run: every job's shell steps against a local PostgreSQL -----------
#
# The jobs' `run:` steps run as GitHub runs them (`bash --noprofile --norc -eo pipefail`),
# in the job's order, with the workflow's and the job's env, in a workspace that holds
# the range files. The steps that only GitHub can run are skipped by name below, each
# with what stands in for it; a step that is neither a `run:` step nor named here fails
# the test. Secrets and the rehearsal's service container become local databases.

PROVIDER_STEPS = {
    "Check out the range files": "the workspace holds a copy of ranges/ and schemas/",
    "Check out kpictl at the pinned ref": "the workspace's .kpictl is this repository's tree",
    "Set up Python": "a fresh virtual environment is first on PATH",
    "Keep the rehearsal's JUnit report": "the test reads isolation-rehearsal.xml instead",
    "Keep the production JUnit report": "the test reads isolation.xml instead",
}
# the rehearse job's PostgreSQL service, as the workflow reaches it
SERVICE_URL = "postgresql://postgres:postgres@localhost:5432/ranges"
FAKE_SHA = "0123456789abcdef0123456789abcdef01234567"
SCRUBBED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NO_COLOR", "FORCE_COLOR", "COLUMNS")


def pg_admin() -> str:
    import psycopg2

    admin = os.environ.get("KPICTL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        psycopg2.connect(admin, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {admin}: {str(exc).strip()}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
        pytest.skip(reason)
    return admin


def admin_sql(url: str, *statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
    conn.close()


def jobs() -> dict:
    import yaml

    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]


def readonly_role_sql() -> list[str]:
    """The statements the workflow's header gives for the read-only role."""
    lines = WORKFLOW.read_text(encoding="utf-8").splitlines()
    return [
        line.lstrip("# ").strip()
        for line in lines
        if re.match(r"#\s+(CREATE ROLE|ALTER ROLE|GRANT) .*\bkpictl_readonly\b.*;$", line)
    ]


@dataclass
class Step:
    name: str
    code: int
    output: str


@dataclass
class Platform:
    """The runner's side: a virtual environment, a workspace with the range files, and
    the databases behind the workflow's secrets."""

    venv: Path
    workspace: Path
    production: str  # KPICTL_DATABASE_URL
    readonly: str  # KPICTL_DATABASE_URL_READONLY
    rehearsal: str  # the rehearse job's service

    def expressions(self) -> dict[str, str]:
        return {
            "${{ secrets.KPICTL_DATABASE_URL }}": self.production,
            "${{ secrets.KPICTL_DATABASE_URL_READONLY }}": self.readonly,
            "${{ github.repository }}": "example/ranges",
            "${{ github.sha }}": FAKE_SHA,
        }

    def env(self, job_name: str, job: dict) -> dict[str, str]:
        import yaml

        top = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["env"]
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in SCRUBBED and not k.startswith(("KPICTL_", "GITHUB_"))
        }
        declared = {**top, **job.get("env", {})}
        for key, value in declared.items():
            value = str(value)
            if value == SERVICE_URL:
                service = job["services"]["postgres"]
                assert service["env"]["POSTGRES_DB"] == "ranges"
                assert "5432:5432" in service["ports"]
                value = self.rehearsal
            for expression, replacement in self.expressions().items():
                value = value.replace(expression, replacement)
            assert "${{" not in value, f"{job_name}: {key}={value}: no stand-in for it"
            env[key] = value
        return env | {
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(self.workspace / f"summary-{job_name}.md"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }

    def run_job(self, job_name: str) -> list[Step]:
        """The job's `run:` steps in order, until one fails (as GitHub does)."""
        job = jobs()[job_name]
        env = self.env(job_name, job)
        (self.workspace / f"summary-{job_name}.md").unlink(missing_ok=True)
        done: list[Step] = []
        for step in job["steps"]:
            if "run" not in step:
                assert step.get("name") in PROVIDER_STEPS, f"{job_name}: unnamed step {step}"
                continue
            assert "if" not in step, f"{job_name}: {step['name']}: a condition to emulate"
            script = self.workspace.parent / "step.sh"
            script.write_text(step["run"])
            result = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            done.append(Step(step["name"], result.returncode, result.stdout + result.stderr))
            if result.returncode:
                break
        return done

    def summary(self, job_name: str) -> str:
        return (self.workspace / f"summary-{job_name}.md").read_text()


def passed(steps: list[Step], job_name: str) -> dict[str, str]:
    """name -> output of every `run:` step of the job, all of which ran and passed."""
    expected = [s["name"] for s in jobs()[job_name]["steps"] if "run" in s]
    failed = [f"{s.name}: exit {s.code}\n{s.output}" for s in steps if s.code]
    assert not failed, "\n".join(failed)
    assert [s.name for s in steps] == expected
    return {s.name: s.output for s in steps}


def junit_failures(path: Path) -> tuple[int, int]:
    """(testcases, failures + errors) of a JUnit report."""
    from xml.etree import ElementTree

    root = ElementTree.parse(path).getroot()
    cases = root.findall(".//testcase")
    bad = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    return len(cases), len(bad)


@pytest.fixture(scope="module")
def runner_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What actions/setup-python gives a job: a Python with pip, and nothing else."""
    venv = tmp_path_factory.mktemp("runner") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return venv


@pytest.fixture
def platform(runner_venv: Path, tmp_path: Path) -> Iterator[Platform]:
    admin = pg_admin()
    base = admin.rsplit("/", 1)[0]
    suffix = uuid.uuid4().hex[:10]
    names = {
        "production": f"kpictl_recipe_prod_{suffix}",
        "rehearsal": f"kpictl_recipe_reh_{suffix}",
    }
    role = f"kpictl_recipe_ro_{suffix}"
    workspace = tmp_path / "workspace"
    shutil.copytree(REPO / "ranges", workspace / "ranges")
    shutil.copytree(REPO / "schemas", workspace / "schemas")
    shutil.copytree(
        REPO,
        workspace / ".kpictl",
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "*.egg-info", "build", "dist", "__pycache__", ".*cache",
            ".hypothesis", "*.db", "*.db-journal",
        ),
    )  # fmt: skip
    admin_sql(admin, *(f'CREATE DATABASE "{name}"' for name in names.values()))
    try:
        yield Platform(
            venv=runner_venv,
            workspace=workspace,
            production=f"{base}/{names['production']}",
            readonly=f"postgresql://{role}@{base.rsplit('@', 1)[1]}/{names['production']}",
            rehearsal=f"{base}/{names['rehearsal']}",
        )
    finally:
        admin_sql(
            admin,
            *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names.values()),
            f"DROP ROLE IF EXISTS {role}",
        )


def create_readonly_role(platform: Platform) -> None:
    """The workflow header's statements, with the test's role and database names."""
    role = platform.readonly.split("//", 1)[1].split("@", 1)[0]
    database = platform.production.rsplit("/", 1)[1]
    statements = readonly_role_sql()
    assert len(statements) == 5 and any("BYPASSRLS" in s for s in statements), statements
    admin_sql(
        platform.production,
        *(
            s.replace("kpictl_readonly", role)
            .replace("DATABASE production", f'DATABASE "{database}"')
            .replace(" PASSWORD 'change-me'", "")  # the test server trusts local users
            for s in statements
        ),
    )


def test_only_provider_steps_are_skipped_and_each_is_named() -> None:
    skipped = {s["name"] for job in jobs().values() for s in job["steps"] if "run" not in s}
    assert skipped == set(PROVIDER_STEPS)
    for job in jobs().values():
        assert all("name" in step for step in job["steps"])
        assert all("uses" in step for step in job["steps"] if "run" not in step)


def test_the_workflow_installs_kpictl_from_its_repository_not_the_index() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "pipx install" not in text and "kpictl==" not in text
    flow = workflow()
    assert re.fullmatch(r"v\d+\.\d+\.\d+|[0-9a-f]{40}", flow["env"]["KPICTL_REF"])
    for name, job in jobs().items():
        steps = {s["name"]: s for s in job["steps"]}
        checkout = steps["Check out kpictl at the pinned ref"]["with"]
        assert checkout["ref"] == "${{ env.KPICTL_REF }}", name
        install = next(s["run"] for n, s in steps.items() if n.startswith("Install kpictl"))
        assert f"./{checkout['path']}" in install, name


@pytest.mark.slow
@pytest.mark.postgres
def test_the_workflow_runs_as_written_from_first_apply_to_merged_change(
    platform: Platform,
) -> None:
    # the first push to main: validate, then apply to an empty production database
    passed(platform.run_job("validate"), "validate")
    applied = passed(platform.run_job("apply"), "apply")
    install = next(out for name, out in applied.items() if name.startswith("Install kpictl"))
    assert f"kpictl {__version__}" in install
    assert (
        "applied:"
        in applied["Apply the range files (exit 1 when a version is refused; nothing written)"]
    )
    assert junit_failures(platform.workspace / "isolation.xml")[1] == 0
    import psycopg2

    conn = psycopg2.connect(platform.production)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT applied_by FROM range_revisions")
        assert cur.fetchall() == [(f"github-actions example/ranges@{FAKE_SHA}",)]
    conn.close()
    create_readonly_role(platform)

    # a pull request changes acme's error-rate weight (its validate job is the one above)
    acme = platform.workspace / "ranges" / "customers" / "acme.yaml"
    text = acme.read_text()
    assert "weight: 3" in text and "\nversion: 1\n" in text
    acme.write_text(
        text.replace("weight: 3", "weight: 2").replace("\nversion: 1\n", "\nversion: 2\n")
    )
    rehearsed = passed(platform.run_job("rehearse"), "rehearse")
    assert "applied:" in rehearsed["Apply every range file"]
    cases, failed = junit_failures(platform.workspace / "isolation-rehearsal.xml")
    assert cases >= 5 and failed == 0
    planned = passed(platform.run_job("plan"), "plan")
    (plan_output,) = [out for name, out in planned.items() if name.startswith("Diff")]
    assert "::notice title=kpictl diff::merging this changes production" in plan_output
    summary = platform.summary("plan")
    assert summary.startswith("### kpictl diff against production\n```\n")
    assert "customer acme" in summary and "error_rate_pct: weight: 3 -> 2" in summary
    assert "drift" not in summary  # the read-only role sees every row (BYPASSRLS)

    # merged: apply, production matches; a later plan finds nothing to do
    passed(platform.run_job("apply"), "apply")
    planned = passed(platform.run_job("plan"), "plan")
    (plan_output,) = [out for name, out in planned.items() if name.startswith("Diff")]
    assert "No differences: production matches the files." in plan_output


@pytest.mark.slow
@pytest.mark.postgres
def test_the_workflow_stops_where_kpictl_says_so(platform: Platform) -> None:
    # an invalid file: validate fails (exit 1) and nothing after it runs
    acme = platform.workspace / "ranges" / "customers" / "acme.yaml"
    acme.write_text(acme.read_text().replace("weight: 3", "weight: three"))
    steps = platform.run_job("validate")
    assert steps[-1].name.startswith("Validate the range files") and steps[-1].code == 1
    assert "must be a number" in steps[-1].output
    assert len(steps) == 2  # install, validate; the schema check did not run

    # the read-only secret names a database that does not exist: diff exits 3, the step
    # fails with it and says so
    platform.readonly = platform.readonly.rsplit("/", 1)[0] + "/kpictl_recipe_missing"
    acme.write_text(acme.read_text().replace("weight: three", "weight: 3"))
    steps = platform.run_job("plan")
    assert steps[-1].name.startswith("Diff") and steps[-1].code == 3, steps[-1].output
    assert "::error title=kpictl diff::exit 3" in steps[-1].output
    assert "### kpictl diff against production" in platform.summary("plan")
