"""Load benchmark of ``kpictl serve`` (issue 16): GET /api/kpi-reference-ranges on
PostgreSQL with 10,000 customers, 32 concurrent keep-alive clients for 20 s, side by
side with a baseline that runs the same SQL per request on a plain psycopg2
connection pool behind a minimal ASGI app (also served by uvicorn, one process).

    python benchmarks/serve_load.py [--customers 10000] [--clients 32] [--seconds 20]

Targets: throughput >= 0.5x the baseline's, p99 latency <= 3x the baseline's, zero
errors, server RSS flat over the run (end <= start + 10% + 5 MB). Exit 1 when a
target is missed. Requests go to 127.0.0.1 only, bounded by --seconds and
--max-requests. Needs PostgreSQL (KPICTL_BENCH_PG_URL, default
postgresql://postgres@127.0.0.1:5432/postgres): it creates a database and drops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("KPICTL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PATH = "/api/kpi-reference-ranges"

# -- the baseline: the same SQL per request, psycopg2 pool, minimal ASGI -------------------

LOOKUP_SQL = (
    "SELECT api_tokens.token_id, api_tokens.token_hash, api_tokens.expires_at, "
    "api_tokens.revoked_at, customers.customer_id, customers.slug, customers.name "
    "FROM api_tokens JOIN customers ON customers.customer_id = api_tokens.customer_id "
    "WHERE api_tokens.token_hash = %s"
)
RANGES_SQL = (
    "SELECT kpi_reference_ranges.customer_id, kpi_reference_ranges.kpi_name, "
    "kpi_reference_ranges.critical_min, kpi_reference_ranges.critical_max, "
    "kpi_reference_ranges.risk_min, kpi_reference_ranges.risk_max, "
    "kpi_reference_ranges.healthy_min, kpi_reference_ranges.healthy_max, "
    "kpi_reference_ranges.weight, kpi_reference_ranges.playbook "
    "FROM kpi_reference_ranges WHERE kpi_reference_ranges.customer_id = %(c)s "
    "OR kpi_reference_ranges.customer_id IS NULL AND NOT (EXISTS (SELECT * "
    "FROM kpi_reference_ranges AS own WHERE own.customer_id = %(c)s "
    "AND own.kpi_name = kpi_reference_ranges.kpi_name))"
)
COLUMNS = (
    "critical_min",
    "critical_max",
    "risk_min",
    "risk_max",
    "healthy_min",
    "healthy_max",
    "weight",
    "playbook",
)


def baseline_app(dsn: str) -> Any:
    """A minimal ASGI app: bearer token -> one transaction (lookup, tenant role, the
    effective ranges query) on a psycopg2 ThreadedConnectionPool, in 40 threads."""
    import hashlib
    import hmac
    from concurrent.futures import ThreadPoolExecutor

    from psycopg2.pool import ThreadedConnectionPool

    # as kpictl serve's pool: 32 kept (psycopg2 closes a connection returned to a pool
    # that holds minconn), up to 40 open
    pool = ThreadedConnectionPool(32, 40, dsn, application_name="baseline")
    executor = ThreadPoolExecutor(max_workers=40)

    def read(token: str) -> tuple[int, bytes]:
        digest = hashlib.sha256(token.encode()).hexdigest()
        conn = pool.getconn()
        try:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with conn.cursor() as cur:
                cur.execute(LOOKUP_SQL, (digest,))
                row = cur.fetchone()
                if row is None or not hmac.compare_digest(row[1], digest) or row[3] is not None:
                    conn.rollback()
                    return 401, b'{"error":"missing or invalid token"}'
                customer_id, slug = row[4], row[5]
                cur.execute("SET LOCAL ROLE kpictl_tenant")
                cur.execute(
                    "SELECT set_config('kpictl.customer_id', %s, true)", (str(customer_id),)
                )
                cur.execute(RANGES_SQL, {"c": customer_id})
                rows = cur.fetchall()
            conn.rollback()
        finally:
            pool.putconn(conn)
        out = []
        for r in sorted(rows, key=lambda r: r[1]):
            own = r[0] == customer_id
            entry: dict[str, Any] = {"customer": slug if own else None, "kpi_name": r[1]}
            entry.update(zip(COLUMNS, r[2:], strict=True))
            entry["weight"] = float(entry["weight"])
            entry["source"] = "customer" if own else "default"
            out.append(entry)
        body = {"customer": slug, "ranges": out}
        return 200, json.dumps(body, separators=(",", ":")).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode()
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        loop = asyncio.get_running_loop()
        status, body = await loop.run_in_executor(executor, read, token)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def run_baseline(port: int, dsn: str) -> None:
    import uvicorn

    uvicorn.run(
        baseline_app(dsn), host="127.0.0.1", port=port, access_log=False, log_level="warning"
    )


# -- data ------------------------------------------------------------------------------------


def dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


def admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn(ADMIN_URL))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def prepare(customers: int, clients: int) -> tuple[str, list[str]]:
    """A new database with the shipped defaults, ``customers`` customers that each
    override two KPIs, and one token for each of ``clients`` customers."""
    import psycopg2

    from kpictl import api
    from kpictl.settings import Settings
    from kpictl.tokens import new_token, token_hash

    name = f"kpictl_bench_serve_{uuid.uuid4().hex[:10]}"
    admin(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    settings = Settings(database_url=url, ranges_dir=REPO / "ranges")
    api.init(settings)
    api.seed(settings, defaults=True)
    tokens = [new_token() for _ in range(clients)]
    conn = psycopg2.connect(dsn(url))
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO customers (slug, name, created_at) SELECT 'c' || lpad(i::text, 5, '0'), "
            "'Customer ' || i, now() FROM generate_series(1, %s) AS i",
            (customers,),
        )
        cur.execute(
            "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, critical_max, risk_min, "
            "risk_max, healthy_min, weight, playbook, updated_at) "
            "SELECT customer_id, 'daily_invocations', 100 + customer_id % 50, "
            "100 + customer_id % 50, 500, 500, 2, 'usage-drop', now() FROM customers"
        )
        cur.execute(
            "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, critical_min, risk_min, "
            "risk_max, healthy_max, weight, playbook, updated_at) "
            "SELECT customer_id, 'error_rate_pct', 2, 0.5, 2, 0.5, 3, 'reliability-review', "
            "now() FROM customers"
        )
        step = max(1, customers // clients)
        for i, token in enumerate(tokens):
            cur.execute(
                "INSERT INTO api_tokens (customer_id, token_hash, label, created_at) "
                "SELECT customer_id, %s, 'bench', now() FROM customers WHERE slug = %s",
                (token_hash(token), f"c{1 + i * step:05d}"),
            )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ANALYZE")
    conn.close()
    return url, tokens


# -- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"server {argv} exited {process.returncode}") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server {argv} did not listen within 30 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- load --------------------------------------------------------------------------------


async def client(
    port: int, token: str, until: float, latencies: list[float], errors: list[str], cap: int
) -> None:
    request = (
        f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: keep-alive\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until and len(latencies) < cap:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = -1
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length < 0:
                raise OSError(f"no Content-Length in {head[:200]!r}")
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if status != 200 or not body.startswith(b'{"customer"'):
                errors.append(f"{status} {body[:80]!r}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


def load(port: int, tokens: list[str], seconds: float, cap: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []

    async def main() -> float:
        start = time.perf_counter()
        until = start + seconds
        await asyncio.gather(*(client(port, t, until, latencies, errors, cap) for t in tokens))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0

    return {
        "requests": len(latencies),
        "throughput": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(ordered) * 1000 if ordered else 0.0,
        "errors": len(errors),
        "error_sample": errors[:3],
    }


def fetch(port: int, token: str) -> bytes:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", PATH, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"GET {PATH} on port {port}: {response.status} {body[:200]!r}")
    return body


def measure(
    name: str, process: subprocess.Popen[bytes], port: int, tokens: list[str], args: Any
) -> dict[str, Any]:
    load(port, tokens, args.warmup, args.max_requests)  # warm the pools and code paths
    rss_start = rss_mb(process.pid)
    cpu_start = cpu_seconds(process.pid)
    result = load(port, tokens, args.seconds, args.max_requests)
    cpu = cpu_seconds(process.pid) - cpu_start
    result["cpu_ms_per_request"] = cpu * 1000 / max(1, result["requests"])
    result["rss_start_mb"] = rss_start
    result["rss_end_mb"] = rss_mb(process.pid)
    result["name"] = name
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--json", action="store_true", help="Print the results as JSON too.")
    args = parser.parse_args(argv)

    print(f"preparing PostgreSQL: {args.customers:,} customers, {args.clients} tokens...")
    url, tokens = prepare(args.customers, args.clients)
    env = {**os.environ, "KPICTL_DATABASE_URL": url, "KPICTL_RANGES_DIR": str(REPO / "ranges")}
    env["KPICTL_LOG_LEVEL"] = "WARNING"  # one line per request would measure the terminal
    results = []
    answers = []
    try:
        # one server at a time: each holds up to 40 connections
        for name, argv in (
            ("kpictl serve", [sys.executable, "-m", "kpictl", "serve", "--port", "{port}"]),
            ("baseline", [sys.executable, __file__, "_baseline", "{port}", dsn(url)]),
        ):
            port = free_port()
            process = start([a.replace("{port}", str(port)) for a in argv], env, port)
            try:
                answers.append(json.loads(fetch(port, tokens[0])))
                results.append(measure(name, process, port, tokens, args))
            finally:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
    finally:
        admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    same = answers[0] == answers[1]
    print(f"same answer from both servers: {same}")

    served, baseline = results
    print(
        f"\n{args.clients} keep-alive clients, {args.seconds:g} s each, GET {PATH}, "
        f"{args.customers:,} customers, PostgreSQL"
    )
    print(
        f"{'':14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'RSS start':>10} {'RSS end':>8} {'CPU/req':>8}"
    )
    for r in results:
        print(
            f"{r['name']:14} {r['throughput']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['errors']:7d} {r['rss_start_mb']:8.1f}MB {r['rss_end_mb']:6.1f}MB "
            f"{r['cpu_ms_per_request']:6.2f}ms"
        )
    throughput_ratio = served["throughput"] / baseline["throughput"]
    p99_ratio = served["p99_ms"] / baseline["p99_ms"]
    rss_flat = served["rss_end_mb"] <= served["rss_start_mb"] * 1.10 + 5
    checks = [
        (
            f"throughput {throughput_ratio:.2f}x the baseline (target >= 0.5x)",
            throughput_ratio >= 0.5,
        ),
        (f"p99 {p99_ratio:.2f}x the baseline (target <= 3x)", p99_ratio <= 3.0),
        (
            f"errors {served['errors']} (target 0)",
            served["errors"] == 0 and baseline["errors"] == 0,
        ),
        (
            f"RSS {served['rss_start_mb']:.1f} -> {served['rss_end_mb']:.1f} MB (target: flat)",
            rss_flat,
        ),
        ("same answer as the baseline", same),
    ]
    for text, ok in checks:
        print(f"  {'met ' if ok else 'MISS'} {text}")
    for r in results:
        if r["error_sample"]:
            print(f"  {r['name']} errors, e.g.: {r['error_sample']}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_baseline":
        run_baseline(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(main())
