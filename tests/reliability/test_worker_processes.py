"""The worker processes that parse many range files die with the command (issue 14 §6).

A SIGKILL or SIGTERM to a large ``validate`` or ``seed`` used to leave its pool workers
(about 45 MB each) blocked for ever under PID 1; Ctrl-C printed their tracebacks. These
tests run the real command on a tree large enough for the pool, wait until its workers
exist, signal it, and look for survivors in /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.data import write_ranges

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

FILES = 4000  # enough for the pool (PARALLEL_MIN_FILES) and for a run of some seconds


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ranges(tmp_path_factory.mktemp("big"), FILES)


def _alive(pid: int) -> bool:
    """Running (a zombie, waiting for a reaper, is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(parent: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            out.add(int(entry.name))
    return out


def _start(args: list[str]) -> tuple[subprocess.Popen[bytes], set[int]]:
    """Start kpictl in a session of its own; return it once its workers exist."""
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("KPICTL_SERIAL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "kpictl", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = _children(process.pid)
        if workers:
            time.sleep(0.3)  # every worker started and busy
            return process, _children(process.pid) | workers
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"no worker process appeared: {process.stderr.read()!r}")  # type: ignore[union-attr]


def _assert_all_gone(workers: set[int], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in workers):
            return
        time.sleep(0.05)
    survivors = sorted(pid for pid in workers if _alive(pid))
    for pid in survivors:  # leave no process behind, whatever the verdict
        os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"worker processes outlived kpictl: {survivors}")


@pytest.mark.parametrize("command", ["validate", "seed"])
def test_sigkill_to_the_command_kills_its_workers(
    big_tree: Path, tmp_path: Path, command: str
) -> None:
    args = ["--ranges", str(big_tree), "validate"]
    if command == "seed":
        db = f"sqlite:///{tmp_path / 'k.db'}"
        subprocess.run([sys.executable, "-m", "kpictl", "--db", db, "init"], check=True)
        args = ["--db", db, "--ranges", str(big_tree), "seed", "--all"]
    process, workers = _start(args)
    process.kill()
    process.wait()
    _assert_all_gone(workers)


def test_sigterm_stops_the_workers_too(big_tree: Path) -> None:
    process, workers = _start(["--ranges", str(big_tree), "validate"])
    process.terminate()
    _out, err = process.communicate(timeout=60)
    _assert_all_gone(workers)
    assert b"Traceback" not in err, err.decode()


def test_ctrl_c_prints_no_worker_traceback(big_tree: Path) -> None:
    """Ctrl-C reaches the whole process group, workers included: they ignore it, the
    command reports the interrupt once."""
    process, workers = _start(["--ranges", str(big_tree), "validate"])
    os.killpg(process.pid, signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    _assert_all_gone(workers)
    text = err.decode()
    assert process.returncode == 130, text
    assert "Traceback" not in text, text
    assert "KeyboardInterrupt" not in text, text
    assert len([line for line in text.splitlines() if line.startswith("error:")]) == 1, text
