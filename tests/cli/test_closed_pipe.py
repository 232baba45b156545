"""A closed standard output (``kpictl list -o csv | head -2``) ends a read command
quietly with status 0, as other Unix tools do; a write command stopped by it before
its COMMIT rolls back and says so (issue 13 §3). Real pipes, the installed script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KPICTL = Path(sys.executable).with_name("kpictl")
AT = "2026-11-28T00:00:00Z"
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "observations.csv"


def piped(db_url: str, ranges_dir: Path, args: list[str], reader: list[str]):
    """Run ``kpictl *args | reader``; returns (kpictl's exit code, its stderr, what the
    reader printed). ``head -n 0`` has closed the pipe before kpictl writes a byte."""
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "KPICTL_DATABASE_URL": db_url,
        "KPICTL_RANGES_DIR": str(ranges_dir),
        "KPICTL_DEBUG": "",
    }
    read_end, write_end = os.pipe()
    head = subprocess.Popen(reader, stdin=read_end, stdout=subprocess.PIPE)
    os.close(read_end)
    if reader[-1] == "0":
        head.wait(10)  # the reader is gone: the first write meets a closed pipe
    producer = subprocess.Popen(
        [str(KPICTL), *args], stdout=write_end, stderr=subprocess.PIPE, env=env
    )
    os.close(write_end)
    _, err = producer.communicate(timeout=120)
    out, _ = head.communicate(timeout=10)
    return producer.returncode, err.decode(), out.decode()


@pytest.fixture
def loaded(kpictl) -> None:
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    kpictl("score", "--all", "--save", "--at", AT)


READS = [
    ["list", "-o", "csv"],
    ["list"],
    ["score", "acme"],
    ["score", "acme", "-o", "json"],
    ["score", "--all", "--at", AT],
    ["history"],
    ["export", "--customer", "acme"],
    ["diff", "--all", "-o", "json"],  # no difference: exit 0
    ["customers", "list"],
    ["observations", "list", "--customer", "acme"],
    ["validate", "-o", "json"],
    ["seed", "--all", "--dry-run", "-o", "json"],
]


@pytest.mark.parametrize("args", READS, ids=[" ".join(a) for a in READS])
@pytest.mark.parametrize("reader", [["head", "-n", "0"], ["head", "-n", "1"]], ids=["gone", "1"])
def test_a_read_command_ends_quietly(loaded, db_url, ranges_dir, args, reader) -> None:
    code, err, out = piped(db_url, ranges_dir, args, reader)
    assert code == 0, err
    assert "error" not in err and "Traceback" not in err, err  # info lines may stay
    assert len(out.splitlines()) == int(reader[-1])


def test_the_example_of_the_issue(loaded, db_url, ranges_dir) -> None:
    code, err, out = piped(db_url, ranges_dir, ["list", "-o", "csv"], ["head", "-2"])
    assert (code, err) == (0, "")
    assert out.startswith("customer,kpi_name,")
    assert len(out.splitlines()) == 2


def test_a_write_stopped_by_a_closed_pipe_rolls_back_and_says_so(
    kpictl, db_url, ranges_dir, db_snapshot
) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    code, err, _ = piped(db_url, ranges_dir, ["seed", "--all"], ["head", "-n", "0"])
    assert code == 1, err
    lines = err.splitlines()
    assert lines[0] == "error: standard output was closed before seed finished", err
    assert lines[1].startswith("hint: seed writes in one transaction"), err
    assert "Traceback" not in err
    assert db_snapshot(db_url) == before
    kpictl("seed", "--all")  # and nothing was left locked or half-written
