"""Every option and argument of every command, fed hostile values (issue 14 §3).

The commands are walked from the Typer application itself (``typer.main.get_command``),
so a command or option added later is fuzzed without editing this file. Each value
goes through the real CLI on a seeded SQLite database; whatever it is, kpictl answers
with an exit code of SPEC §5 (0, 1, 2, 3), at most one ``error:`` line, no traceback
and nothing "unexpected" (an unexpected error is a bug).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kpictl.cli.app import app

SHIPPED_RANGES = Path(__file__).resolve().parents[2] / "ranges"
# Commands left out: ``serve`` with a valid --host/--port would start serving.
SKIPPED = {("serve",)}

# What each command needs besides the option under test to get past its first checks.
BASE: dict[tuple[str, ...], list[str]] = {
    ("seed",): ["--all", "--dry-run"],
    ("diff",): ["--all"],
    ("export",): ["--customer", "acme"],
    ("score",): ["acme", "--set", "error_rate_pct=1"],
    ("customers", "add"): ["fuzzed", "--name", "Fuzzed"],
    ("customers", "remove"): ["fuzzed"],
    ("observations", "import"): ["OBSERVATIONS"],
    ("observations", "list"): ["--customer", "acme"],
    ("tokens", "issue"): ["--customer", "acme"],
    ("tokens", "revoke"): ["1"],
}


def hostile_values(tmp: Path) -> list[str]:
    missing = tmp / "missing" / "file.yaml"
    return [
        "9" * 5000,  # more digits than int() converts
        "-" + "9" * 4299,  # the most it converts: an OverflowError further on
        "99999999999999999999",
        "0",
        "1e999",
        "nan",
        "\u0663",  # an Arabic-Indic three: int() and float() take it
        "\udcff\udcfe",  # undecodable bytes of an argument, as Python passes them
        "\x1b[2J\r\x07",
        "\u202eacme",
        "[/red][link=http://x]x",
        "x" * 20_000,  # longer than any path or file name
        "",
        "../../../passwd",  # a way out of the working directory (a private one here)
        "/dev/zero",  # never given to an option that writes: see WRITES
        "/dev/null",
        str(tmp),  # a directory
        str(missing),
    ]


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    out = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        elif path not in SKIPPED:
            out.append((path, command))

    walk(typer.main.get_command(app), ())
    return out


COMMANDS = _commands()


# Options that write files. They are not given device paths: kpictl writes a device in
# place now (test_numbers_and_names.py proves it on a FIFO), but an earlier kpictl
# replaced /dev/null by a file through its atomic rename, which a test must never risk
# on a shared machine. Every value runs in a private working directory, so relative
# paths ("0", "../../../passwd") land in the test's own tmp directory.
WRITES = {"output_file", "output_dir", "junit"}


def _fuzzed_args(command: Any, path: tuple[str, ...], value: str) -> list[list[str]]:
    """One argument list per parameter of ``command``, that parameter given ``value``."""
    base = BASE.get(path, [])
    out = []
    for param in command.params:
        if param.name == "help" or getattr(param, "is_flag", False):
            continue
        if param.name in WRITES and value.startswith("/dev/"):
            continue
        if param.param_type_name == "argument":
            # replace the base's positional value (the first one) or add it
            positional = [a for a in base if not a.startswith("-")]
            args = list(base)
            if positional and base.index(positional[0]) == 0:
                args[0] = value
            else:
                args = [value, *base]
            out.append([*path, *args])
        else:
            out.append([*path, *base, param.opts[0], value])
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("fuzz")
    cwd = root / "work" / "a" / "b"  # "../../../passwd" stays under root
    cwd.mkdir(parents=True)
    previous = os.getcwd()
    os.chdir(cwd)
    ranges = root / "ranges"
    shutil.copytree(SHIPPED_RANGES, ranges)
    env = {
        "NO_COLOR": "1",
        "COLUMNS": "120",
        "KPICTL_DATABASE_URL": f"sqlite:///{root / 'kpictl.db'}",
        "KPICTL_RANGES_DIR": str(ranges),
        "KPICTL_DEBUG": "",
    }
    runner = CliRunner()
    for args in (["init"], ["seed", "--all"]):
        result = runner.invoke(app, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    csv = root / "observations.csv"
    csv.write_text(
        "customer,kpi_name,value,observed_at\nacme,error_rate_pct,1,2026-01-01T00:00:00Z\n"
    )
    try:
        yield {**env, "OBSERVATIONS": str(csv), "ROOT": str(root)}
    finally:
        os.chdir(previous)


def _devices_intact(args: list[str]) -> None:
    """Stop at once when a command replaced /dev/null or /dev/zero by a file (an output
    option once did, through its atomic rename): the machine's other work needs them."""
    for device in ("/dev/null", "/dev/zero"):
        if not stat.S_ISCHR(os.stat(device).st_mode):
            pytest.exit(f"kpictl {args[:4]} replaced {device} by a file: restore it", 3)


def _verdict(args: list[str], result: Any) -> str | None:
    output = result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"raised {type(result.exception).__name__}: {result.exception}"
    if result.exit_code not in (0, 1, 2, 3):
        return f"exit {result.exit_code}"
    if "Traceback" in output:
        return "traceback"
    if "unexpected" in output:
        return next(line for line in output.splitlines() if "unexpected" in line)
    # invalid range files: a line per problem, then the one error line that sums them up
    summed_up = errors and re.search(r"problems? in range files", errors[-1])
    if len(errors) > 1 and args[0] != "validate" and not summed_up:
        return f"{len(errors)} error lines: {errors[:3]}"
    return None


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS]
)
def test_hostile_values_for_every_parameter(
    path: tuple[str, ...], command: Any, seeded: dict[str, str]
) -> None:
    env = {k: v for k, v in seeded.items() if k.startswith(("KPICTL_", "NO_", "COLUMNS"))}
    runner = CliRunner()
    failures = []
    for value in hostile_values(Path(seeded["ROOT"])):
        for args in _fuzzed_args(command, path, value):
            args = [seeded["OBSERVATIONS"] if a == "OBSERVATIONS" else a for a in args]
            result = runner.invoke(app, args, env=env, catch_exceptions=True)
            _devices_intact(args)
            problem = _verdict(args, result)
            if problem is not None:
                shown = [a if len(a) < 40 else a[:20] + f"...({len(a)})" for a in args]
                failures.append(f"kpictl {' '.join(map(ascii, shown))}: {problem[:300]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("option", ["--db", "--ranges"])
def test_hostile_values_for_the_global_options(option: str, seeded: dict[str, str]) -> None:
    env = {k: v for k, v in seeded.items() if k.startswith(("KPICTL_", "NO_", "COLUMNS"))}
    runner = CliRunner()
    failures = []
    for value in hostile_values(Path(seeded["ROOT"])):
        for command in (["list"], ["validate"], ["seed", "--all", "--dry-run"]):
            args = [option, value, *command]
            result = runner.invoke(app, args, env=env, catch_exceptions=True)
            _devices_intact(args)
            problem = _verdict(command, result)
            if problem is not None:
                failures.append(f"kpictl {option} {value[:30]!a} {command}: {problem[:300]}")
    assert not failures, "\n".join(failures)


def test_the_fuzz_reaches_every_command() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"seed", "score", "export", "observations import", "customers add"} <= names
