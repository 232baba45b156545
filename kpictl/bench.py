"""Benchmark of kpictl at platform scale: ``python -m kpictl.bench [--quick]``.

Every step runs the real ``kpictl`` command in a fresh process and, in the same run, a
baseline that does the same work as directly as the tools allow; it prints the data
size, the median of several runs of each, their ratio, and the peak RSS of kpictl.
Machines here are shared and noisy: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

KPIS: dict[str, tuple[str, str]] = {
    "daily_invocations": ("count", "higher"),
    "invocations_30d": ("count", "higher"),
    "invocation_velocity_change_pct": ("percent", "higher"),
    "monthly_spend": ("USD", "higher"),
    "days_since_last_invocation": ("days", "lower"),
    "error_rate_pct": ("percent", "lower"),
    "p95_latency_ms": ("ms", "lower"),
    "avg_execution_time_sec": ("seconds", "lower"),
    "cold_start_pct": ("percent", "lower"),
    "health_score": ("points", "higher"),
}


@dataclass(frozen=True)
class Sizes:
    files: int  # customer range files for validate/seed
    repeat: int  # runs per measurement (the median is reported)


FULL = Sizes(files=10_000, repeat=5)
QUICK = Sizes(files=300, repeat=3)


@dataclass
class Result:
    step: str
    size: str
    median: float
    baseline: float
    rss_mb: float
    target: str

    @property
    def ratio(self) -> float:
        return self.median / self.baseline if self.baseline else float("nan")


# -- measuring -----------------------------------------------------------------------


def timed(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run a command; return (seconds, peak RSS in MB). Fails loudly on a non-zero exit."""
    import time

    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"bench: {' '.join(argv)} exited {code}:\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024


def median_of(
    repeat: int, run: Callable[[], tuple[float, float]], prepare: Callable[[], None] | None = None
) -> tuple[float, float]:
    times, peak = [], 0.0
    for _ in range(repeat):
        if prepare:
            prepare()
        seconds, rss = run()
        times.append(seconds)
        peak = max(peak, rss)
    return statistics.median(times), peak


KPICTL = [sys.executable, "-m", "kpictl"]
PYTHON_PASS = [sys.executable, "-c", "pass"]


# -- data ----------------------------------------------------------------------------


def write_ranges(root: Path, customers: int, *, seed: int = 7) -> Path:
    """A ranges directory: the catalog, defaults and ``customers`` files of ten KPIs."""
    rng = random.Random(seed)
    ranges = root / "ranges"
    (ranges / "customers").mkdir(parents=True, exist_ok=True)
    catalog = ["apiVersion: kpictl/v1", "kpis:"]
    for name, (unit, better) in KPIS.items():
        catalog.append(f"  {name}: {{unit: {unit}, better: {better}}}")
    (ranges / "kpis.yaml").write_text("\n".join(catalog) + "\n")
    (ranges / "defaults.yaml").write_text(_range_file(None, rng))
    for i in range(customers):
        slug = f"customer-{i:06d}"
        (ranges / "customers" / f"{slug}.yaml").write_text(_range_file(slug, rng))
    return ranges


def _range_file(slug: str | None, rng: random.Random) -> str:
    lines = ["apiVersion: kpictl/v1"]
    if slug:
        lines += [f"customer: {slug}", f"name: Customer {slug[-6:]}"]
    lines += ["version: 1", "ranges:"]
    for name, (_unit, better) in KPIS.items():
        low = rng.randint(1, 50)
        high = low + rng.randint(1, 50)
        if better == "higher":
            bands = f"critical: {{max: {low}}}, risk: {{min: {low}, max: {high}}}, " + (
                f"healthy: {{min: {high}}}"
            )
        else:
            bands = f"healthy: {{max: {low}}}, risk: {{min: {low}, max: {high}}}, " + (
                f"critical: {{min: {high}}}"
            )
        lines.append(f"  {name}: {{{bands}, weight: {rng.randint(1, 3)}}}")
    return "\n".join(lines) + "\n"


BASELINE_PARSE = textwrap.dedent(
    """
    import sys, pathlib, yaml
    for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")):
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    """
)

BASELINE_COPY = textwrap.dedent(
    """
    import io, sys, pathlib, yaml, psycopg2
    ranges, dsn = pathlib.Path(sys.argv[1]), sys.argv[2]
    cols = ["critical_min", "critical_max", "risk_min", "risk_max", "healthy_min", "healthy_max"]
    customers, rows = io.StringIO(), io.StringIO()
    files = sorted((ranges / "customers").glob("*.yaml"))
    for cid, path in enumerate(files, start=1):
        doc = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
        customers.write(f"{cid}\\t{doc['customer']}\\t{doc['name']}\\n")
        for kpi, spec in doc["ranges"].items():
            values = []
            for band in ("critical", "risk", "healthy"):
                b = spec.get(band) or {}
                values += [b.get("min"), b.get("max")]
            cells = ["\\\\N" if v is None else str(v) for v in values]
            rows.write(f"{cid}\\t{kpi}\\t" + "\\t".join(cells) + f"\\t{spec.get('weight', 1)}\\n")
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        customers.seek(0); rows.seek(0)
        cur.copy_from(customers, "customers", columns=("customer_id", "slug", "name"))
        cur.copy_from(rows, "kpi_reference_ranges",
                      columns=("customer_id", "kpi_name", *cols, "weight"))
    conn.close()
    """
)


# -- PostgreSQL databases ------------------------------------------------------------


class Databases:
    """Creates (and at the end drops) scratch PostgreSQL databases."""

    def __init__(self, admin_url: str) -> None:
        import psycopg2

        self.admin_url = admin_url
        self.created: list[str] = []
        self._psycopg2 = psycopg2

    def _admin(self, sql: str) -> None:
        conn = self._psycopg2.connect(self.admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.close()

    def fresh(self) -> str:
        name = f"kpictl_bench_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


# -- steps ---------------------------------------------------------------------------


def startup_steps(work: Path, sizes: Sizes) -> list[Result]:
    ranges = write_ranges(work / "small", 3)
    one_file = ranges / "customers" / "customer-000000.yaml"
    sqlite_url = f"sqlite:///{work / 'small' / 'kpictl.db'}"
    env = {"KPICTL_RANGES_DIR": str(ranges), "KPICTL_DATABASE_URL": sqlite_url}
    timed([*KPICTL, "seed", "--all"], env=env)
    repeat = max(sizes.repeat, 7)
    base, _ = median_of(repeat, lambda: timed(PYTHON_PASS))
    out = []
    for step, argv, target in [
        ("kpictl --version", ["--version"], "<= 3x"),
        ("kpictl --help", ["--help"], "<= 12x"),
        ("kpictl validate (one file)", ["validate", str(one_file)], "<= 12x"),
        ("kpictl list --customer X (SQLite)", ["list", "--customer", "customer-000000"], "<= 30x"),
    ]:
        med, rss = median_of(repeat, functools.partial(timed, [*KPICTL, *argv], env=env))
        out.append(Result(step, "-", med, base, rss, target))
    return out


def file_steps(work: Path, sizes: Sizes, dbs: Databases | None) -> list[Result]:
    ranges = write_ranges(work / "big", sizes.files)
    size = f"{sizes.files:,} files"
    out = []
    base, _ = median_of(
        sizes.repeat, lambda: timed([sys.executable, "-c", BASELINE_PARSE, str(ranges)])
    )
    med, rss = median_of(sizes.repeat, lambda: timed([*KPICTL, "validate", str(ranges)]))
    out.append(Result("validate (all files)", size, med, base, rss, "<= 1.0x"))
    if dbs is None:
        return out

    rows = f"{sizes.files:,} customers, {sizes.files * 10:,} rows"
    urls: list[str] = []

    def fresh_initialised() -> None:
        for url in urls:
            dbs.drop(url)
        urls.clear()
        url = dbs.fresh()
        timed([*KPICTL, "--db", url, "init"])
        urls.append(url)

    copy_base, _ = median_of(
        sizes.repeat,
        lambda: timed([sys.executable, "-c", BASELINE_COPY, str(ranges), urls[0]]),
        prepare=fresh_initialised,
    )
    seed_env = {"KPICTL_RANGES_DIR": str(ranges)}
    med, rss = median_of(
        sizes.repeat,
        lambda: timed([*KPICTL, "--db", urls[0], "seed", "--all"], env=seed_env),
        prepare=fresh_initialised,
    )
    out.append(Result("seed --all, empty database", rows, med, copy_base, rss, "<= 1.5x"))
    med, rss = median_of(
        sizes.repeat, lambda: timed([*KPICTL, "--db", urls[0], "seed", "--all"], env=seed_env)
    )
    out.append(Result("seed --all, nothing changed", rows, med, base, rss, "<= 0.3x"))
    for url in urls:
        dbs.drop(url)
    return out


# -- report --------------------------------------------------------------------------


def report(results: Sequence[Result]) -> str:
    head = f"| {'step':<36} | {'size':<34} | median | baseline | ratio | target | peak RSS |"
    rule = "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"
    lines = [head, rule]
    for r in results:
        lines.append(
            f"| {r.step:<36} | {r.size:<34} | {r.median:6.3f}s | {r.baseline:7.3f}s "
            f"| {r.ratio:5.2f}x | {r.target:>6} | {r.rss_mb:5.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kpictl.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "KPICTL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="admin URL of a PostgreSQL server for the database steps ('' to skip them)",
    )
    parser.add_argument("--files", type=int, help="override the number of range files")
    parser.add_argument("--repeat", type=int, help="runs per measurement")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.files or args.repeat:
        sizes = Sizes(files=args.files or sizes.files, repeat=args.repeat or sizes.repeat)

    work = Path(tempfile.mkdtemp(prefix="kpictl-bench-"))
    dbs = Databases(args.pg) if args.pg else None
    results: list[Result] = []
    try:
        print(
            f"kpictl benchmark: {'quick' if args.quick else 'full'} sizes, "
            f"median of {sizes.repeat} runs, work dir {work}",
            file=sys.stderr,
        )
        results += startup_steps(work, sizes)
        print(report(results), file=sys.stderr)
        results += file_steps(work, sizes, dbs)
    finally:
        if dbs:
            dbs.drop_all()
        shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
