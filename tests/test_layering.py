"""The package's layers, asserted (docs/architecture.md describes them; STYLE.md says why).

- The core (everything under kpictl/ but the CLI, the renderer and the HTTP server)
  imports no Typer, Rich or Click: it prints nothing and can be used without a terminal.
- ``kpictl --version``, ``--help`` and ``validate`` import no database layer and no web
  stack: asserted with the rest of start-up in tests/cli/test_errors_and_startup.py.
- ``kpictl.api``, the facade of verbs, is imported by the CLI only: the work behind a verb
  lives in the module named for its concept, and modules import those, never the facade.
- No module is over 600 lines (the migrations excepted): one concept per module.
- Which database it is (``dialect.name``, ``is_postgresql()``, ``is_sqlite()``,
  ``url.get_backend_name()``) is asked in kpictl/backends/ and the migrations only.

The import checks run in fresh interpreters; the others read the source (ast), so that a
function-level import or a branch in an f-string is seen as well as a top-level one.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "kpictl"

# the presentation layer: the only packages that may import Typer and Rich
PRESENTATION = ("kpictl.cli", "kpictl.render", "kpictl.serve")
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def source_files() -> list[Path]:
    """Every module of the package, the Alembic migrations (scripts Alembic runs, not
    modules of the package) excepted."""
    migrations = PACKAGE / "db" / "migrations"
    return sorted(p for p in PACKAGE.rglob("*.py") if migrations not in p.parents)


def fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


# -- the core imports no Typer, Rich or Click -----------------------------------------

CORE_IMPORTS = """
import importlib, json, pkgutil, sys
import kpictl

PRESENTATION = {presentation!r}
UI = ("typer", "rich", "click")


def ui_loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in UI)


# the package's modules, depth first, never entering the presentation packages
# (pkgutil.walk_packages would import them to look inside)
def core_modules(path, prefix):
    for info in pkgutil.iter_modules(path, prefix):
        name = info.name
        if name == "kpictl.__main__" or name in PRESENTATION:
            continue
        yield name
        if info.ispkg:
            yield from core_modules(importlib.import_module(name).__path__, name + ".")


imported, first = [], None
for name in core_modules(kpictl.__path__, "kpictl."):
    importlib.import_module(name)
    imported.append(name)
    if first is None and ui_loaded():
        first = name
print(json.dumps({{"imported": imported, "first": first, "ui": ui_loaded()}}))
"""


def test_the_core_imports_neither_typer_nor_rich() -> None:
    """Every core module, found by walking the package (a new module is covered the day
    it is added), imported in one fresh interpreter: no Typer, Rich or Click."""
    out = fresh_python(CORE_IMPORTS.format(presentation=PRESENTATION))
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    # the walk really covered the core: the facade, the verbs' homes, the backends
    for name in (
        "kpictl.api",
        "kpictl.seeding",
        "kpictl.drift",
        "kpictl.scoring",
        "kpictl.isolation",
        "kpictl.backends.postgresql",
        "kpictl.rangefiles",
        "kpictl.store",
    ):
        assert name in found["imported"], name
    assert not any(n.startswith(PRESENTATION) for n in found["imported"])
    assert found["ui"] == [], f"importing {found['first']} brought in {found['ui'][:5]}"


# -- nothing imports the facade but the CLI -------------------------------------------


def api_imports(path: Path) -> list[str]:
    """The imports of kpictl.api in one module, as ``line: statement`` (absolute and
    relative, at any depth of the module: a function-level import counts too)."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
            if any(n == "kpictl.api" or n.startswith("kpictl.api.") for n in names):
                found.append(f"{node.lineno}: import {', '.join(names)}")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names = [a.name for a in node.names]
            if (
                base == "kpictl.api"
                or base.startswith("kpictl.api.")
                or (base == "kpictl" and "api" in names)
            ):
                found.append(f"{node.lineno}: from {'.' * node.level}{node.module or ''} import")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value == "kpictl.api"  # importlib.import_module("kpictl.api")
        ):
            found.append(f"{node.lineno}: the string 'kpictl.api'")
    return found


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            p,
            id=relative(p),
        )
        for p in source_files()
        if PACKAGE / "cli" not in p.parents
    ],
)
def test_nothing_but_the_cli_imports_the_api_facade(path: Path) -> None:
    assert api_imports(path) == [], relative(path)


def test_the_api_scan_sees_the_cli_imports() -> None:
    """The scan finds the imports it is there to find, in the CLI that may have them (so
    an empty answer above means no import, not a blind scan)."""
    assert any(api_imports(path) for path in (PACKAGE / "cli").rglob("*.py"))


# -- module size ---------------------------------------------------------------------


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            p,
            id=relative(p),
        )
        for p in source_files()
    ],
)
def test_no_module_is_over_600_lines(path: Path) -> None:
    assert line_count(path) <= MAX_LINES, f"{relative(path)}: {line_count(path)} lines"


# -- which database it is: asked in the backends only --------------------------------

BACKEND_HOMES = (PACKAGE / "backends", PACKAGE / "db" / "migrations")


def backend_questions(path: Path) -> list[str]:
    """``dialect.name``, ``is_postgresql(``, ``is_sqlite(`` and ``.get_backend_name()`` in
    one module's code (comments and docstrings are not code; f-strings are)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "name":
            value = node.value
            if (isinstance(value, ast.Attribute) and value.attr == "dialect") or (
                isinstance(value, ast.Name) and value.id == "dialect"
            ):
                found.append(f"{node.lineno}: dialect.name")
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            if name in ("is_postgresql", "is_sqlite"):
                found.append(f"{node.lineno}: {name}()")
            elif name == "get_backend_name" and isinstance(func, ast.Attribute):
                found.append(f"{node.lineno}: get_backend_name()")
    return found


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            p,
            id=relative(p),
        )
        for p in source_files()
        if not any(home in p.parents for home in BACKEND_HOMES)
    ],
)
def test_only_the_backends_ask_which_database_it_is(path: Path) -> None:
    assert backend_questions(path) == [], relative(path)


def test_the_backend_scan_sees_the_backends() -> None:
    """The scan finds what it looks for where it is allowed (so an empty answer above
    means clean code, not a blind scan)."""
    found = [q for p in (PACKAGE / "backends").rglob("*.py") for q in backend_questions(p)]
    assert found
