"""A real ``kpictl serve`` process on 127.0.0.1, a free port, and a real HTTP client.

``served`` seeds the shipped ranges and sample observations into the test's database
(SQLite or PostgreSQL: the ``db_url`` fixture), issues a token for acme and one for
data-center, and starts the server as its own process (``python -m kpictl serve``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "observations.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One running ``kpictl serve`` and what the test needs to talk to it."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, token: str | None = None, **kwargs: object) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        with httpx.Client(base_url=self.url, timeout=30) as client:
            return client.get(path, headers=headers, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGINT, as Ctrl+C: uvicorn shuts down gracefully. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def start_server(db_url: str, ranges_dir: Path, log_path: Path, *args: str) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "KPICTL_DATABASE_URL": db_url,
        "KPICTL_RANGES_DIR": str(ranges_dir),
        "NO_COLOR": "1",
    }
    env.pop("KPICTL_DEBUG", None)
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "kpictl", "serve", "--port", str(port), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=log_path.parent,
    )
    log.close()
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"kpictl serve exited {process.returncode}:\n{server.log()}")
        try:
            if server.get("/healthz").status_code in (200, 503):
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"kpictl serve did not answer within 30 s:\n{server.log()}")


def issue(kpictl, slug: str, *extra: str) -> str:  # type: ignore[no-untyped-def]
    result = kpictl("tokens", "issue", "--customer", slug, *extra)
    token = result.stdout.strip()
    assert token.startswith("kpi_") and len(token) == 47, result.output
    return token


# kpictl_tenant is cluster-wide: hold the isolation tests' lock shared, so that no test
# altering the role (tests/isolation, marked alters_tenant_role) runs meanwhile.
TENANT_ROLE_LOCK = 0x6B7069_0004


@pytest.fixture(autouse=True)
def _tenant_role_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    if "db_url" not in request.fixturenames:
        yield
        return
    db_url = request.getfixturevalue("db_url")
    if not db_url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from kpictl.db.engine import driver_url

    engine = create_engine(driver_url(db_url.rsplit("/", 1)[0] + "/postgres"), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": TENANT_ROLE_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": TENANT_ROLE_LOCK})
    finally:
        engine.dispose()


@pytest.fixture
def seeded(kpictl):  # type: ignore[no-untyped-def]
    """The shipped ranges and the sample observations, in the test's database; the copy
    of data-center's file loses its invocations_30d, so that both acme and data-center
    have rows of their own and take some system defaults."""
    path = kpictl.ranges_dir / "customers" / "data-center.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  invocations_30d:\n")
    end = text.index("  invocation_velocity_change_pct:\n")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    return kpictl


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``start(db_url, ranges_dir, *args)``: a server, stopped at the end of the test."""
    servers: list[Server] = []

    def _start(db_url: str, ranges_dir: Path, *args: str) -> Server:
        log_path = tmp_path / f"serve-{len(servers)}.log"
        servers.append(start_server(db_url, ranges_dir, log_path, *args))
        return servers[-1]

    try:
        yield _start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def issue_token() -> Callable[..., str]:
    """``issue_token(kpictl, slug, *options)``: a new token, as printed."""
    return issue


@pytest.fixture
def served(seeded, start) -> Server:  # type: ignore[no-untyped-def]
    tokens = {slug: issue(seeded, slug) for slug in ("acme", "data-center")}
    server: Server = start(seeded.db_url, seeded.ranges_dir)
    server.tokens = tokens
    return server
