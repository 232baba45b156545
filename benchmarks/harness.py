"""Running commands and timing them: each command in a fresh process under a small
launcher that reports its wall time, exit status and peak RSS (and kills it after a
timeout); medians of several runs; the time budget of a kpictl run."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


class Run(NamedTuple):
    seconds: float
    rss_mb: float
    stdout: str
    timed_out: bool = False
    exit_code: int = 0


# -- measuring -----------------------------------------------------------------------


# A child forked (or vforked) from this process is charged this process's peak RSS when
# it execs (Linux folds the old address space's high-water mark into the child's), so
# a large parent -- pytest, say -- would inflate every figure. Commands therefore run
# under this small launcher: it spawns the command, waits for it, and reports the
# command's own wall time, exit status and peak RSS (killing it after the timeout).
_LAUNCHER = """\
import os, signal, sys, time
report, timeout, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
started = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
killed = []
def kill(_signum, _frame):
    killed.append(1)
    os.kill(pid, signal.SIGKILL)
if timeout > 0:
    signal.signal(signal.SIGALRM, kill)
    signal.setitimer(signal.ITIMER_REAL, timeout)
_pid, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - started
with open(report, "w") as f:
    f.write(f"{elapsed} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} {len(killed)}")
"""


def timed(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    capture: bool = False,
    timeout: float | None = None,
) -> Run:
    """Run a command; its wall time and peak RSS in MB. Fails loudly on a non-zero exit
    other than 1 (kpictl's "it ran and found a problem"). After ``timeout`` seconds the
    process is killed and the run marked ``timed_out`` (its RSS is the peak until then)."""
    with (
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryDirectory() as tmp,
    ):
        report = Path(tmp) / "report"
        launcher = [sys.executable, "-c", _LAUNCHER, str(report), str(timeout or 0), *argv]
        subprocess.run(
            launcher,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=out if capture else subprocess.DEVNULL,
            stderr=err,
            check=True,
        )
        seconds, maxrss, code, killed = report.read_text().split()
        err.seek(0)
        out.seek(0)
        stderr = err.read().decode(errors="replace")
        stdout = out.read().decode(errors="replace") if capture else ""
    elapsed, rss, returncode = float(seconds), int(maxrss) / 1024, int(code)
    if int(killed) and returncode == -signal.SIGKILL:
        return Run(elapsed, rss, stdout, timed_out=True, exit_code=returncode)
    if returncode not in (0, 1):
        shown = " ".join(a if len(a) < 200 else a[:60] + "..." for a in argv)
        raise SystemExit(f"bench: {shown} exited {returncode}:\n{stderr}")
    return Run(elapsed, rss, stdout, exit_code=returncode)


class Measured(NamedTuple):
    median: float
    rss_mb: float
    timed_out: bool = False


def median_of(
    repeat: int, run: Callable[[], Run], prepare: Callable[[], None] | None = None
) -> Measured:
    """The median seconds and the highest peak RSS of ``repeat`` runs; after a run that
    timed out, no more runs (the time is then that run's, a lower bound)."""
    times, peak = [], 0.0
    for _ in range(repeat):
        if prepare:
            prepare()
        seconds, rss, _out, timed_out, _code = run()
        peak = max(peak, rss)
        if timed_out:
            return Measured(seconds, peak, True)
        times.append(seconds)
    return Measured(statistics.median(times), peak)


KPICTL = [sys.executable, "-m", "kpictl"]
PYTHON_PASS = [sys.executable, "-c", "pass"]


def compile_package(name: str = "kpictl") -> str:
    """Byte-compile the measured package, as installing it does (pip compiles a wheel's
    modules). An editable checkout run with PYTHONDONTWRITEBYTECODE set (as CI machines
    often are) would otherwise compile every module from source at every start, and the
    start-up steps would measure the compiler. Returns the package's directory."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the package {name} is not installed")
    where = next(iter(spec.submodule_search_locations))
    compileall.compile_dir(where, quiet=1)
    return where


def python_script(source: str, *args: str) -> list[str]:
    return [sys.executable, "-c", source, *args]


@dataclass(frozen=True)
class Budget:
    """How long a kpictl run may take before it is killed: ``factor`` times the time the
    target allows (target ratio × baseline), and never less than ``floor`` seconds. A
    run that hits it has missed its target by far; the time shown is a lower bound."""

    factor: float
    floor: float

    def timeout(self, baseline: float, target: str) -> float:
        bound = float(target.split()[1].rstrip("x"))
        allowed = baseline / bound if target.endswith("faster") else baseline * bound
        return max(self.floor, self.factor * allowed)
