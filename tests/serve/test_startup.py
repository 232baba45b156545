"""Nothing of kpictl serve is imported by the other commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# pydantic is not here: Typer >= 0.27 depends on it and imports it for every command
WEB = {"fastapi", "starlette", "uvicorn", "httpx", "anyio"}


def imported_modules(*args: str) -> set[str]:
    code = (
        "import sys\n"
        "from kpictl.cli.app import app\n"
        "try:\n"
        f"    app({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--help"], ["validate"], ["serve", "--help"], ["tokens", "--help"]],
)
def test_commands_do_not_import_the_web_stack(args: list[str]) -> None:
    modules = imported_modules(*args)
    assert "kpictl" in modules
    assert {m for m in modules if m.split(".")[0] in WEB} == set()
    assert not any(m.startswith("kpictl.serve") for m in modules)
