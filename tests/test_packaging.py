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
# what the sdist must carry besides the package: the tests with all their data, and the
# developer programs they import
SOURCE_FILES = sorted(
    p.relative_to(REPO).as_posix()
    for top in ("tests", "benchmarks", "tools")
    for p in (REPO / top).rglob("*")
    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
)
DEV_ONLY = (
    "pytest",
    "hypothesis",
    "ruff",
    "mypy",
    "build",
    "twine",
    "jsonschema",
    "flask_sqlalchemy",
)


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
        "alembic.ini",
        "scripts/ensure-chromium",
        "ranges/kpis.yaml",
        "schemas/customer.schema.json",
        "docs/commands.md",
        "docs/ci/ranges.yml",
        "tests/conftest.py",
        "LICENSE",
        *SOURCE_FILES,
    }
    assert expected <= in_sdist, sorted(expected - in_sdist)
    assert not any(name.endswith((".pyc", ".db")) for name in in_sdist)


@pytest.mark.slow
def test_the_wheel_holds_no_developer_programs(dist: Path) -> None:
    """The benchmark (benchmarks/) and the docs generator (tools/gen_docs.py) are run from
    the repository; neither is installed with kpictl."""
    (wheel,) = dist.glob("*.whl")
    in_wheel = zipfile.ZipFile(wheel).namelist()
    outside = [
        n for n in in_wheel if not n.startswith(("kpictl/", f"kpictl-{__version__}.dist-info/"))
    ]
    assert outside == [], outside
    modules = {n.removesuffix(".py").replace("/", ".") for n in in_wheel if n.endswith(".py")}
    assert "kpictl.bench" not in modules and "kpictl.cli.docs" not in modules
    for name in in_wheel:
        stem = Path(name).stem
        assert "bench" not in stem and stem not in {"docs", "gen_docs"}, name
        if name.endswith(".py"):
            text = zipfile.ZipFile(wheel).read(name).decode()
            for marker in ("BASELINE_", "_LAUNCHER", "def reference(", "import benchmarks"):
                assert marker not in text, f"{name} holds {marker}"


def collected(root: Path) -> list[str]:
    """The test ids that ``pytest --collect-only`` finds under ``root`` (any collection
    error fails the run)."""
    result = run(
        sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
        cwd=root, env={"CI": ""},
    )  # fmt: skip
    return sorted(line for line in result.stdout.splitlines() if "::" in line)


@pytest.mark.slow
def test_the_sdist_collects_every_test_of_the_repository(dist: Path, tmp_path: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        # the "data" filter: Python 3.12, and security releases of 3.10 and 3.11
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp_path, filter="data")
        else:
            tar.extractall(tmp_path)
    unpacked = tmp_path / f"kpictl-{__version__}"
    in_sdist = collected(unpacked)
    assert len(in_sdist) > 500
    assert in_sdist == collected(REPO)


@pytest.mark.slow
def test_twine_check_strict_passes_and_the_metadata_names_licence_and_urls(dist: Path) -> None:
    files = sorted(dist.iterdir())
    assert len(files) == 2
    checked = run(sys.executable, "-m", "twine", "check", "--strict", *files, cwd=dist)
    assert checked.stdout.count("PASSED") == 2, checked.stdout
    assert "WARNING" not in checked.stdout + checked.stderr
    (wheel,) = dist.glob("*.whl")
    info = f"kpictl-{__version__}.dist-info"
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"{info}/METADATA").decode()
        licence = zf.read(f"{info}/licenses/LICENSE").decode()
    assert licence == (REPO / "LICENSE").read_text()
    assert licence.startswith("MIT License\n\nCopyright (c) ") and "kpictl contributors" in licence
    assert "License-Expression: MIT" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()
    urls = {
        line.split(": ", 1)[1].split(", ", 1)[0]
        for line in metadata.splitlines()
        if line.startswith("Project-URL: ")
    }
    assert {"Homepage", "Repository", "Issues", "Changelog"} <= {u.lower().title() for u in urls}


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
