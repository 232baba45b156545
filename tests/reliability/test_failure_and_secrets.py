"""Fast, clear failure when the database cannot be reached, and a password in the
database URL that never shows: not in output, errors, files written, or the database.

(An unused port, exit 3 within 10 s: tests/cli/test_errors_and_startup.py.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, event

from tests.helpers.reliability import assert_one_clean_error, error_lines

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "observations.csv"
PG_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

SECRET = "Sup3r-S3cret"
# A password with characters that must be percent-encoded: it must show neither as
# written in the URL nor decoded.
SPECIAL = "p@ss/w0rd:S3cret?"


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word, like a
    database host whose packets vanish: only a connect timeout ends the wait."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kpictl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={
            **os.environ,
            "NO_COLOR": "1",
            "KPICTL_DEBUG": "",
            "KPICTL_RANGES_DIR": str(REPO / "ranges"),
            **(env or {}),
        },
        timeout=60,
    )


def test_a_server_that_never_answers_fails_within_10_seconds(tmp_path) -> None:
    with silent_server() as port:
        url = f"postgresql://admin:{SECRET}@127.0.0.1:{port}/health"
        started = time.monotonic()
        result = run("--db", url, "seed", "--all", cwd=tmp_path)
        elapsed = time.monotonic() - started
    assert 4 < elapsed < 10, elapsed  # it waited for the connect timeout, no longer
    assert result.returncode == 3, result.stderr
    assert error_lines(result.stderr) == [
        f"error: cannot connect to postgresql://admin:***@127.0.0.1:{port}/health: "
        f'connection to server at "127.0.0.1", port {port} failed: timeout expired'
    ], result.stderr
    assert SECRET not in result.stdout + result.stderr


def with_password(db_url: str, password: str, *, query: bool = False) -> str:
    """The fixture's PostgreSQL URL with a password (trust auth accepts any)."""
    scheme, rest = db_url.split("://", 1)
    if query:
        return f"{db_url}?password={quote(password, safe='')}"
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}"


def every_database_command(tmp_path: Path) -> list[list[str]]:
    junit = tmp_path / "isolation.xml"
    return [
        ["init"],
        ["seed", "--all", "--dry-run"],
        ["seed", "--all"],
        ["list"],
        ["list", "--customer", "acme", "-o", "json"],
        ["customers", "list"],
        ["customers", "add", "initech", "--name", "Initech"],
        ["customers", "remove", "initech", "--yes"],
        ["diff", "--all"],
        ["diff", "--customer", "acme", "--against", "defaults"],
        ["export", "--customer", "acme"],
        ["history"],
        ["verify-isolation", "--junit", str(junit)],
        ["observations", "import", str(SAMPLES)],
        ["observations", "list", "--customer", "acme"],
        ["score", "acme", "--at", "2026-11-28"],
        ["score", "--all", "--save", "--at", "2026-11-28"],
    ]


def assert_never_shown(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"{secret!r} shown in:\n{text}"


@PG_ONLY
@pytest.mark.parametrize(
    ("password", "query"),
    [(SECRET, False), (SPECIAL, False), (SECRET, True)],
    ids=["plain", "percent-encoded", "query-parameter"],
)
def test_a_password_never_shows_when_every_command_succeeds(
    kpictl, db_url, db_snapshot, tmp_path, capfd, password: str, query: bool
) -> None:
    kpictl.db_url = with_password(db_url, password, query=query)
    secrets = [password, quote(password, safe="")]
    seen = []
    for args in every_database_command(tmp_path):
        result = kpictl(*args, expect=None)
        assert result.exit_code in (0, 1), result.output  # diff: 1 (initech differs)
        seen.append(result.stdout + result.stderr)
    captured = capfd.readouterr()
    assert_never_shown(secrets, *seen, captured.out, captured.err)
    assert "postgresql://postgres:***@" in seen[0] or "password=***" in seen[0]
    assert_never_shown(secrets, (tmp_path / "isolation.xml").read_text())
    # nor does the database keep it (the revision log records who applied, not how)
    assert_never_shown(secrets, repr(db_snapshot(db_url)))


# Only this machine is ever contacted: 127.0.0.1 (a host name would need DNS).
PG_WITH_PASSWORD = "postgresql://postgres:" + quote(SPECIAL, safe="") + "@127.0.0.1:5432"
FAILURES = {
    "unused-port": "postgresql://admin:{pw}@127.0.0.1:1/health",
    "no-such-database": "{pg}/kpictl_no_such_database",
    "bad-port": "postgresql://admin:{pw}@127.0.0.1:port/health",
    "unknown-driver": "postgresql+nosuchdriver://admin:{pw}@127.0.0.1/health",
    "bad-option": "postgresql://admin:{pw}@127.0.0.1:1/health?sslmode={pw}",
    "query-password": "postgresql://admin@127.0.0.1:1/health?password={pw}",
    "unencoded-at": "postgresql://admin:{raw}@127.0.0.1:1/health",
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_password_never_shows_when_a_command_fails(tmp_path, capfd, case: str) -> None:
    from typer.testing import CliRunner

    from kpictl.cli.app import app

    url = FAILURES[case].format(pw=quote(SPECIAL, safe=""), raw=SPECIAL, pg=PG_WITH_PASSWORD)
    secrets = [SPECIAL, quote(SPECIAL, safe=""), "w0rd", "S3cret"]
    runner = CliRunner()
    for args in every_database_command(tmp_path):
        started = time.monotonic()
        result = runner.invoke(
            app,
            ["--db", url, *args],
            env={"NO_COLOR": "1", "KPICTL_DEBUG": "", "KPICTL_RANGES_DIR": str(REPO / "ranges")},
            catch_exceptions=False,
        )
        assert time.monotonic() - started < 10
        line = assert_one_clean_error(result, 3)
        assert_never_shown(secrets, result.stdout, result.stderr)
        assert "***" in line, line
    captured = capfd.readouterr()
    assert_never_shown(secrets, captured.out, captured.err)


def test_the_fast_failure_holds_for_the_installed_command(tmp_path) -> None:
    """The same, from a fresh interpreter: nothing reaches stderr outside kpictl's error
    line (a driver warning, a logging handler)."""
    for case in ("unused-port", "unencoded-at", "no-such-database"):
        url = FAILURES[case].format(pw=quote(SPECIAL, safe=""), raw=SPECIAL, pg=PG_WITH_PASSWORD)
        result = run(
            "--db",
            url,
            "seed",
            "--all",
            cwd=tmp_path,
            env={"KPICTL_RANGES_DIR": str(REPO / "ranges")},
        )
        assert result.returncode == 3, result.stderr
        assert len(error_lines(result.stderr)) == 1, result.stderr
        assert_never_shown([SPECIAL, quote(SPECIAL, safe=""), "w0rd"], result.stdout, result.stderr)


@PG_ONLY
@pytest.mark.parametrize("kind", ["driver", "unexpected"])
def test_a_password_inside_an_error_raised_by_the_driver_is_masked(
    kpictl, db_url, kind: str
) -> None:
    """Whatever the driver (or anything else) puts in its message, the password as given
    in the URL, percent-encoded or decoded, is replaced before it is printed."""
    import psycopg2

    kpictl("init")
    url = with_password(db_url, SPECIAL)
    kpictl.db_url = url

    def leaky(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        message = f"cannot use {url} (password {SPECIAL}, encoded {quote(SPECIAL, safe='')})"
        raise (psycopg2.OperationalError if kind == "driver" else RuntimeError)(message)

    event.listen(Engine, "before_cursor_execute", leaky)
    try:
        result = kpictl("list", expect=None)
    finally:
        event.remove(Engine, "before_cursor_execute", leaky)
    assert result.exit_code == (3 if kind == "driver" else 1), result.output
    assert len(error_lines(result.stderr)) == 1
    assert_never_shown([SPECIAL, quote(SPECIAL, safe=""), "w0rd"], result.stdout, result.stderr)
    assert "postgresql://postgres:***@" in result.stderr


def test_debug_is_the_one_exception(tmp_path) -> None:
    """KPICTL_DEBUG=1 shows the traceback, which may hold anything: it is for a developer
    at their own terminal, never for CI logs (the README says so)."""
    result = run(
        "--db",
        f"postgresql://admin:{SECRET}@127.0.0.1:1/x",
        "list",
        cwd=tmp_path,
        env={"KPICTL_DEBUG": "1"},
    )
    assert "Traceback" in result.stderr
