"""The console examples of README.md and docs/*.md are real output, and stay so.

Every ```console block must have a marker on the line before its fence:

    <!-- readme-test: STEP STEP ... -->     run it after these set-up steps (none: no step)
    <!-- readme-test: skip REASON -->       not run; reported as a pytest skip with REASON

A console block without a marker fails the test, so no example goes unchecked silently.

Each block runs in a fresh temporary directory holding a copy of the repository's ranges/
and samples/, with the embedded SQLite default (kpictl.db in that directory). The steps,
in the order named (see STEPS below):

    fresh         nothing: no database yet (a block names it when it needs no other step)
    seed          kpictl seed --all
    observations  kpictl observations import samples/observations.csv
    edit-acme     the loop's edit: acme.yaml version 2, error_rate_pct risk.min and
                  healthy.max 0.5 -> 0.8 (the boundary moves in both bands)
    break-acme    acme.yaml's error_rate_pct risk.max becomes the string `two`
    drift         data-center.yaml version 2 with daily_invocations' boundary 956 -> 900, a
                  hand UPDATE of the stored default p95_latency_ms (1500 -> 1400), and
                  `kpictl customers add initech --name Initech`

Every line of a block that starts with `$ ` is a command, run by bash in that directory:
the text after `$ `, less a trailing comment (two or more spaces, then `#`). `kpictl` is the
one installed beside the running Python (the project's .venv). The environment has no
KPICTL_* variable, NO_COLOR=1, COLUMNS=100 and PYTHONUNBUFFERED=1; stdout and stderr go to
one pipe, so messages and data appear in the order they were written. Each command starts
with `$?` set to the previous command's exit status, so `$ echo $?` shows it. The lines up to the
next command are its expected output. A `$ $EDITOR ...` line is not run: its block must
name an edit-* step, which makes that edit before the block.

The comparison normalises only what must vary between runs:
- a timestamp `YYYY-MM-DDTHH:MM:SSZ` in the output that lies within the run (the "now" of
  a score headline or of `score --all`'s title) matches any timestamp at that place in
  the example; every other timestamp (observed-at times of the sample data, say) must be
  equal;
- the temporary directory's path reads `.`;
- trailing whitespace at the end of a line is ignored.
No durations appear in the examples, so none are normalised. A line `...` in an example
stands for any number of lines of output (the example shows an excerpt).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
KPICTL_BIN = Path(sys.executable).parent

MARKER = re.compile(r"^<!-- readme-test: (?P<spec>.*?) -->$")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
COMMENT = re.compile(r"\s{2,}#.*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    spec: str | None
    body: list[str]

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def console_blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != "```console":
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        marker = MARKER.match(lines[i - 1].strip()) if i else None
        blocks.append(
            Block(
                page=str(page.relative_to(REPO)),
                line=i + 1,
                spec=marker.group("spec").strip() if marker else None,
                body=lines[i + 1 : end],
            )
        )
    return blocks


BLOCKS = [block for page in PAGES for block in console_blocks(page)]


def _env() -> dict[str, str]:
    assert (KPICTL_BIN / "kpictl").exists(), (
        f"no kpictl beside {sys.executable}: install the project"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPICTL_")}
    env.update(
        PATH=f"{KPICTL_BIN}{os.pathsep}{env.get('PATH', '')}",
        NO_COLOR="1",
        COLUMNS="100",
        PYTHONUNBUFFERED="1",
    )
    env.pop("FORCE_COLOR", None)
    return env


def _sh(command: str, cwd: Path, status: int) -> tuple[str, int]:
    """Run one command line; `$?` starts as the previous command's exit status."""
    done = subprocess.run(
        ["bash", "-c", f"(exit {status}); {command}"],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    return done.stdout, done.returncode


def _kpictl_ok(command: str, cwd: Path) -> None:
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"set-up step `{command}` failed: {done.stderr}"


def _replace(path: Path, *pairs: tuple[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    for old, new in pairs:
        assert old in text, f"set-up edit: {old!r} is no longer in {path.name}"
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")


def _seed(cwd: Path) -> None:
    _kpictl_ok("kpictl seed --all", cwd)


def _observations(cwd: Path) -> None:
    _kpictl_ok("kpictl observations import samples/observations.csv", cwd)


def _edit_acme(cwd: Path) -> None:
    _replace(
        cwd / "ranges/customers/acme.yaml",
        ("\nversion: 1\n", "\nversion: 2\n"),
        ("risk: {min: 0.5, max: 2}", "risk: {min: 0.8, max: 2}"),
        ("healthy: {max: 0.5}", "healthy: {max: 0.8}"),
    )


def _break_acme(cwd: Path) -> None:
    _replace(
        cwd / "ranges/customers/acme.yaml",
        ("risk: {min: 0.5, max: 2}", "risk: {min: 0.5, max: two}"),
    )


def _drift(cwd: Path) -> None:
    _replace(
        cwd / "ranges/customers/data-center.yaml",
        ("\nversion: 1\n", "\nversion: 2\n"),
        ("critical: {max: 956}", "critical: {max: 900}"),
        ("risk: {min: 956, max: 2000}", "risk: {min: 900, max: 2000}"),
    )
    with sqlite3.connect(cwd / "kpictl.db") as db:
        changed = db.execute(
            "UPDATE kpi_reference_ranges SET critical_min = 1400, risk_max = 1400"
            " WHERE customer_id IS NULL AND kpi_name = 'p95_latency_ms'"
        ).rowcount
    assert changed == 1
    _kpictl_ok("kpictl customers add initech --name Initech", cwd)


STEPS: dict[str, Callable[[Path], None]] = {
    "fresh": lambda cwd: None,
    "seed": _seed,
    "observations": _observations,
    "edit-acme": _edit_acme,
    "break-acme": _break_acme,
    "drift": _drift,
}


def _line_pattern(expected: str) -> re.Pattern[str]:
    parts = []
    last = 0
    for m in TIMESTAMP.finditer(expected):
        parts.append(re.escape(expected[last : m.start()]))
        parts.append(f"(?:<now>|{re.escape(m.group(0))})")
        last = m.end()
    parts.append(re.escape(expected[last:]))
    return re.compile("".join(parts))


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; a `...` line of the example matches any number of lines."""
    if not expected:
        return not actual
    if expected[0].strip() == "...":
        return any(_matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    return (
        bool(actual)
        and _line_pattern(expected[0]).fullmatch(actual[0]) is not None
        and _matches(expected[1:], actual[1:])
    )


def _normalise(output: str, cwd: Path, start: datetime, end: datetime) -> list[str]:
    def now(m: re.Match[str]) -> str:
        at = datetime.strptime(m.group(0), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        return "<now>" if start <= at <= end else m.group(0)

    output = TIMESTAMP.sub(now, output.replace(str(cwd), "."))
    return [line.rstrip() for line in output.splitlines()]


def _commands(block: Block) -> list[tuple[str, list[str]]]:
    runs: list[tuple[str, list[str]]] = []
    for line in block.body:
        if line.startswith("$ "):
            runs.append((COMMENT.sub("", line[2:]).strip(), []))
        else:
            assert runs, f"{block.id}: output before the first `$ ` command"
            runs[-1][1].append(line.rstrip())
    return runs


def test_every_console_block_is_marked() -> None:
    unmarked = [block.id for block in BLOCKS if block.spec is None]
    assert BLOCKS and not unmarked, f"console blocks without a readme-test marker: {unmarked}"


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_console_block_is_real_output(block: Block, tmp_path: Path) -> None:
    if block.spec is None:
        pytest.fail(f"{block.id}: no <!-- readme-test: ... --> marker")
    words = block.spec.split()
    if words and words[0] == "skip":
        reason = " ".join(words[1:])
        assert reason, f"{block.id}: a skip needs its reason"
        pytest.skip(f"{block.id}: {reason}")
    unknown = [w for w in words if w not in STEPS]
    assert not unknown, f"{block.id}: unknown set-up steps {unknown}; known: {sorted(STEPS)}"

    shutil.copytree(REPO / "ranges", tmp_path / "ranges")
    shutil.copytree(REPO / "samples", tmp_path / "samples")
    for word in words:
        STEPS[word](tmp_path)

    runs = _commands(block)
    assert runs, f"{block.id}: no `$ ` command"
    status = 0
    for command, expected in runs:
        if command.startswith("$EDITOR"):
            assert any(w.startswith("edit-") for w in words), (
                f"{block.id}: `$ {command}` needs an edit-* step that makes the edit"
            )
            assert not expected, f"{block.id}: `$ {command}` shows output"
            continue
        start = datetime.now(timezone.utc).replace(microsecond=0)
        output, status = _sh(command, tmp_path, status)
        end = datetime.now(timezone.utc) + timedelta(seconds=1)
        actual = _normalise(output, tmp_path, start, end)
        assert _matches(expected, actual), (
            f"{block.id}: `$ {command}` no longer prints what the example shows.\n"
            "--- example\n" + "\n".join(expected) + "\n--- real output\n" + "\n".join(actual)
        )
