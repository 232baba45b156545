"""The edges of the command line (issue 14 §3, §6, §7): a password that is a common
word or letter masks only itself; arguments that are not UTF-8 and integers of
thousands of digits are refused with one error line; SIGTERM is handled like Ctrl-C,
with a message that fits the command. Real processes where signals and argv bytes are
involved (the installed script), CliRunner elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers.reliability import assert_one_clean_error

KPICTL = Path(sys.executable).with_name("kpictl")
HEADER = b"customer,kpi_name,value,observed_at\n"


def run_cli(*args: str, **env: str):
    from kpictl.cli.app import app

    base = {"NO_COLOR": "1", "KPICTL_DEBUG": ""}
    return CliRunner().invoke(app, list(args), env={**base, **env}, catch_exceptions=False)


# -- §7: a password masked where it is, and nowhere else ----------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@127.0.0.1:1/db", "postgresql://u:***@127.0.0.1:1/db"),
        (
            "postgresql://postgres:postgres@127.0.0.1:1/postgres",
            "postgresql://postgres:***@127.0.0.1:1/postgres",
        ),
        ("postgresql://kpictl:e@127.0.0.1:1/health", "postgresql://kpictl:***@127.0.0.1:1/health"),
    ],
)
def test_a_short_or_common_password_does_not_garble_the_message(url, shown) -> None:
    result = run_cli("--db", url, "list", KPICTL_RANGES_DIR="ranges")
    line = assert_one_clean_error(result, 3)
    assert line.startswith(f"error: cannot connect to {shown}: "), line
    password = url.split("://", 1)[1].split("@")[0].split(":")[1]
    assert f":{password}@" not in result.output


def test_the_password_is_still_masked_where_a_driver_echoes_it() -> None:
    from kpictl.settings import Settings

    settings = Settings(database_url="postgresql://u:Sup3r-S3cret@h/db?sslmode=Sup3r-S3cret")
    text = settings.mask('password "Sup3r-S3cret" rejected for postgresql://u:Sup3r-S3cret@h/db')
    assert "Sup3r" not in text, text
    assert text == 'password "***" rejected for postgresql://u:***@h/db'
    assert "Sup3r" not in settings.safe_url


# -- §3: arguments that are not UTF-8; integers of thousands of digits ---------------------


def installed(*args: str | bytes, env: dict[str, str], cwd: Path, stdin=None, **kw):
    return subprocess.run(
        [str(KPICTL), *args],
        capture_output=True,
        env={**os.environ, "NO_COLOR": "1", "KPICTL_DEBUG": "", **env},
        cwd=cwd,
        stdin=stdin,
        timeout=60,
        **kw,
    )


@pytest.mark.parametrize(
    "args",
    [
        [b"list", b"--customer", b"\xff"],
        [b"score", b"acme\xe9"],
        [b"validate", b"caf\xe9.yaml"],
        [b"customers", b"add", b"x", b"--name", b"Caf\xe9 GmbH"],
        [b"observations", b"list", b"-c", b"acme", b"--kpi", b"\xc3("],
    ],
)
def test_an_argument_that_is_not_utf8_is_refused(kpictl, db_url, db_snapshot, tmp_path, args):
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    env = {"KPICTL_DATABASE_URL": db_url, "KPICTL_RANGES_DIR": str(kpictl.ranges_dir)}
    done = installed(*args, env=env, cwd=tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    lines = err.splitlines()
    assert lines[0].startswith("error: argument ") and "is not valid UTF-8" in lines[0], err
    assert len([line for line in lines if line.startswith("error:")]) == 1
    assert "Traceback" not in err and "unexpected" not in err
    assert db_snapshot(db_url) == before


HUGE = "9" * 5000


@pytest.mark.parametrize(
    "args",
    [["history", "--limit", HUGE], ["history", "-n", f"-{HUGE}"], ["history", "-n", HUGE + "x"]],
    ids=["limit", "negative", "not-a-number"],
)
def test_an_integer_of_thousands_of_digits_is_refused(kpictl, args) -> None:
    kpictl("seed", "--all")
    result = kpictl(*args, expect=None)
    line = assert_one_clean_error(result, 2)
    assert "--limit" in line, line
    assert len(line) < 2200, "the echo of a huge value is cut short"
    assert "hint: kpictl history --help" in result.stderr


# -- §6: SIGTERM as Ctrl-C, and a message that fits the command ----------------------------


def started(args: list[str], env: dict[str, str], cwd: Path, feed: bytes | None):
    proc = subprocess.Popen(
        [str(KPICTL), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1", "KPICTL_DEBUG": "", **env},
        cwd=cwd,
    )
    if feed is not None:
        assert proc.stdin is not None
        proc.stdin.write(feed)
        proc.stdin.flush()  # and leave stdin open: the command waits for the rest
    return proc


def reading_stdin(proc: subprocess.Popen) -> bool:
    """The process waits in a read of its stdin pipe: the command runs (startup reads
    no stdin)."""
    try:
        return "pipe" in Path(f"/proc/{proc.pid}/wchan").read_text()
    except OSError:
        return False


def has_workers(proc: subprocess.Popen) -> bool:
    """The process has started child processes (validate's pool of parsers)."""
    try:
        return bool(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().strip())
    except OSError:
        return False


def stopped(proc: subprocess.Popen, sig: int, running) -> tuple[int, str]:
    """Send ``sig`` once ``running(proc)`` says the command is at work (20 s at most)."""
    deadline = time.monotonic() + 20
    while not running(proc) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode()


SIGNALS = [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]


@pytest.mark.parametrize(("sig", "code", "word"), SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_a_write_stopped_by_a_signal_changes_nothing_and_says_how_to_check(
    kpictl, db_url, db_snapshot, tmp_path, sig, code, word
) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    env = {"KPICTL_DATABASE_URL": db_url, "KPICTL_RANGES_DIR": str(kpictl.ranges_dir)}
    feed = HEADER + b"acme,error_rate_pct,1.5,2026-11-27T06:00:00Z\n"
    proc = started(["observations", "import", "-"], env, tmp_path, feed)
    returncode, err = stopped(proc, sig, reading_stdin)
    assert returncode == code, err
    lines = err.splitlines()
    assert lines[0] == f"error: {word}: observations import stopped before it finished", err
    assert lines[1].startswith("hint: observations import writes in one transaction"), err
    assert "Traceback" not in err
    assert db_snapshot(db_url) == before
    kpictl("seed", "--all", "--lock-timeout", "0")  # no lock was left behind


@pytest.mark.parametrize(("sig", "code", "word"), SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_a_read_stopped_by_a_signal_says_it_wrote_nothing(
    kpictl, db_url, tmp_path, sig, code, word
) -> None:
    kpictl("seed", "--all")
    env = {"KPICTL_DATABASE_URL": db_url, "KPICTL_RANGES_DIR": str(kpictl.ranges_dir)}
    proc = started(["score", "acme", "--values", "-"], env, tmp_path, b"error_rate_pct: 1\n")
    returncode, err = stopped(proc, sig, reading_stdin)
    assert returncode == code, err
    assert err.splitlines() == [
        f"error: {word}: score stopped before it finished; it writes nothing to the database"
    ], err


@pytest.mark.parametrize(("sig", "code", "word"), SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_validate_says_nothing_of_a_database(tmp_path, sig, code, word) -> None:
    ranges = tmp_path / "ranges"
    shipped = Path(__file__).resolve().parents[2] / "ranges"
    (ranges / "customers").mkdir(parents=True)
    for name in ("kpis.yaml", "defaults.yaml"):
        (ranges / name).write_bytes((shipped / name).read_bytes())
    text = (shipped / "customers" / "acme.yaml").read_text()
    for i in range(6000):  # seconds of work: the signal lands while it runs
        (ranges / "customers" / f"c{i}.yaml").write_text(
            text.replace("customer: acme", f"customer: c{i}")
        )
    proc = started(["validate"], {"KPICTL_RANGES_DIR": str(ranges)}, tmp_path, None)
    returncode, err = stopped(proc, sig, has_workers)
    assert returncode == code, err
    assert err.splitlines() == [f"error: {word}: validate stopped before it finished"], err
    assert "database" not in err
