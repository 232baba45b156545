"""The package as users get it: `python -m build` makes an sdist and, from it, a wheel;
the wheel installs into a fresh virtual environment without the dev dependencies, and
the installed `kpictl` script runs, migrations included.

Dependencies come from the package index (or pip's cache). About half a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from kpictl import __version__

REPO = Path(__file__).resolve().parent.parent
MIGRATIONS = sorted(
    p.relative_to(REPO).as_posix()
    for p in (REPO / "kpictl" / "db" / "migrations").rglob("*")
    if p.is_file() and p.suffix in {".py", ".mako"} and "__pycache__" not in p.parts
)
DEV_ONLY = ("pytest", "hypothesis", "ruff", "mypy", "build", "jsonschema", "flask_sqlalchemy")


def run(
    *args: str | Path, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"} and not k.startswith("KPICTL_")
    }
    clean |= {"NO_COLOR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", **(env or {})}
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args} exited {result.returncode}\n{result.stdout}\n" + (
        result.stderr
    )
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist and wheel of a copy of the source tree (the build writes into its tree)."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "*.egg-info", "build", "dist", "__pycache__", ".*cache",
            ".hypothesis", "*.db", "*.db-journal",
        ),
    )  # fmt: skip
    out = base / "dist"
    run(sys.executable, "-m", "build", "--outdir", out, source, cwd=base)
    return out


@pytest.mark.slow
def test_the_wheel_and_the_sdist_carry_migrations_and_py_typed(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    assert wheel.name == f"kpictl-{__version__}-py3-none-any.whl"
    assert sdist.name == f"kpictl-{__version__}.tar.gz"
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert set(MIGRATIONS) <= in_wheel
    assert "kpictl/py.typed" in in_wheel
    assert not any(name.startswith(("tests/", "ranges/")) for name in in_wheel)
    entry_points = (
        zipfile.ZipFile(wheel).read(f"kpictl-{__version__}.dist-info/entry_points.txt").decode()
    )
    assert "kpictl = kpictl.cli:main" in entry_points

    prefix = f"kpictl-{__version__}/"
    with tarfile.open(sdist) as tar:
        in_sdist = {name.removeprefix(prefix) for name in tar.getnames()}
    expected = {
        *MIGRATIONS,
        "kpictl/py.typed",
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        ".pre-commit-hooks.yaml",
        "ranges/kpis.yaml",
        "schemas/customer.schema.json",
        "docs/commands.md",
        "docs/ci/ranges.yml",
        "tests/conftest.py",
    }
    assert expected <= in_sdist, expected - in_sdist
    assert not any(name.endswith((".pyc", ".db")) for name in in_sdist)


@pytest.mark.slow
def test_the_installed_script_runs_without_dev_dependencies(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    kpictl = venv / "bin" / "kpictl"
    run(python, "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path)

    where = run(python, "-c", "import kpictl; print(kpictl.__file__)", cwd=tmp_path).stdout
    assert Path(where.strip()).is_relative_to(venv)
    missing = run(
        python,
        "-c",
        "import importlib.util, json, sys; "
        f"print(json.dumps([m for m in {list(DEV_ONLY)!r} if importlib.util.find_spec(m)]))",
        cwd=tmp_path,
    ).stdout
    assert json.loads(missing) == [], "dev dependencies were installed"

    project = tmp_path / "project"
    shutil.copytree(REPO / "ranges", project / "ranges")
    assert run(kpictl, "--version", cwd=project).stdout == f"kpictl {__version__}\n"
    assert "valid: 0 error(s)" in run(kpictl, "validate", "ranges/", cwd=project).stderr
    db = f"sqlite:///{tmp_path / 'x.db'}"
    seeded = run(kpictl, "--db", db, "seed", "--all", cwd=project)
    assert "applied:" in seeded.stderr
    rows = json.loads(
        run(kpictl, "--db", db, "list", "--customer", "acme", "-o", "json", cwd=project).stdout
    )
    assert {row["source"] for row in rows} == {"customer", "default"}
    schema = json.loads(run(kpictl, "schema", "--kind", "customer", cwd=project).stdout)
    assert schema == json.loads((REPO / "schemas" / "customer.schema.json").read_text())
    script = run(kpictl, cwd=project, env={"_KPICTL_COMPLETE": "source_bash"}).stdout
    assert "_KPICTL_COMPLETE=complete_bash" in script
    words = {
        "_KPICTL_COMPLETE": "complete_bash",
        "COMP_WORDS": "kpictl seed -c a",
        "COMP_CWORD": "3",
    }
    assert run(kpictl, cwd=project, env=words).stdout.split() == ["acme"]
