"""What every failure of kpictl must look like, and runs that cannot hang the suite: the
clean-error check, a time limit, a command in a forked child killed after a bound, and
range edits that make a second seed do every kind of write."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_clean_error(result: Any, code: int) -> str:
    """The command failed with ``code``, one ``error:`` line (perhaps then a ``hint:``),
    no traceback, nothing "unexpected". Returns the error line."""
    output = result.stdout + result.stderr
    assert result.exit_code == code, output
    assert "Traceback" not in output, output
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert not errors[0].startswith("error: unexpected"), errors[0]
    return errors[0]


class Hang(BaseException):
    """A run went past its time limit. A BaseException, so that kpictl's edge, which
    turns every Exception into an error line, does not swallow it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (rather than hang the suite) when the block runs longer than ``seconds``."""

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    """What a command run in a child process did (see :func:`run_bounded`)."""

    exit_code: int
    stdout: str
    stderr: str


def run_bounded(kpictl: Any, args: list[str], seconds: float) -> Outcome:
    """``kpictl(*args)`` in a forked child, killed after ``seconds``: a hang in C code
    (a regular expression, a driver call), which no signal handler can interrupt, fails
    the test instead of hanging the suite. Arguments of any size (no exec)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child() -> None:
        result = kpictl(*args, expect=None)
        send.send((result.exit_code, result.stdout, result.stderr))

    process = context.Process(target=child)
    process.start()
    try:
        if not receive.poll(seconds):
            raise AssertionError(f"kpictl {args[0]} ... still running after {seconds} s")
        return Outcome(*receive.recv())
    finally:
        process.kill()
        process.join()


# -- a second seed worth interrupting ------------------------------------------------


def edit_for_second_seed(ranges_dir: Path) -> None:
    """Range edits whose seed (with --prune) adds a customer, adds, changes and removes
    rows, and renames a customer: every kind of write of a seed."""
    acme = ranges_dir / "customers" / "acme.yaml"
    acme.write_text(
        acme.read_text()
        .replace("version: 1", "version: 2")
        .replace("name: Acme Corp", "name: Acme Corporation")
        .replace("risk: {min: 0.5, max: 2}", "risk: {min: 0.8, max: 2}")
        .replace("healthy: {max: 0.5}", "healthy: {max: 0.8}")
    )
    dc = ranges_dir / "customers" / "data-center.yaml"
    text = dc.read_text().replace("version: 1", "version: 2")
    start = text.index("  cold_start_pct:")
    end = text.index("  health_score:")
    dc.write_text(text[:start] + text[end:])
    (ranges_dir / "customers" / "initech.yaml").write_text(
        "apiVersion: kpictl/v1\ncustomer: initech\nname: Initech\nversion: 1\nranges:\n"
        "  error_rate_pct:\n    critical: {min: 4}\n    risk: {min: 1, max: 4}\n"
        "    healthy: {max: 1}\n"
    )
