"""The CLI stands on Typer's public surface only, so that every Typer release from the
floor in pyproject.toml to the newest works (`make test-typer-oldest` runs the CLI
tests under the floor; the normal suite under whatever is installed)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "kpictl" / "cli"
PRIVATE = ("click", "typer.core", "typer.main", "typer._click", "typer.models")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_cli_module_imports_click_or_typer_internals() -> None:
    for path in sorted(CLI.glob("*.py")):
        if path.name == "docs.py":  # the docs generator walks the command tree (dev tool)
            continue
        bad = {m for m in imported_modules(path) if m.split(".")[0] == "click" or m in PRIVATE}
        assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"
        text = path.read_text(encoding="utf-8")
        assert "typer.main." not in text and "typer.core." not in text, path


def test_click_is_no_dependency_and_typer_has_no_upper_pin_below_the_newest() -> None:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    deps = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert not re.search(r'"click\b', deps)
    spec = re.search(r'"typer(?P<spec>[^"]*)"', deps)
    assert spec, deps
    upper = re.search(r"<\s*(?P<v>[0-9.]+)", spec.group("spec"))
    assert upper is None or int(upper.group("v").split(".")[0]) >= 1, spec.group(0)


def test_the_makefile_tests_the_floor_of_pyproject() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "test-typer-oldest:" in makefile
    assert "typer>=" in makefile  # TYPER_OLDEST is read from pyproject.toml, not repeated
