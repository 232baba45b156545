"""Benchmark of kpictl at platform scale: ``python -m kpictl.bench [--quick]``.

Every step runs the real ``kpictl`` command in a fresh process and, in the same run, a
baseline that does the same work as directly as the tools allow; it prints the data
size, the median of several runs of each, their ratio, and the peak RSS of kpictl.
Machines here are shared and noisy: compare ratios, not seconds.

Steps (``--steps``, comma-separated; all by default):

- ``startup``: ``--version``, ``--help``, ``validate`` of one file, ``list --customer``
  (SQLite), each against ``python -c pass``;
- ``files``: ``validate`` of every file against the C YAML loader; ``seed --all`` on an
  empty PostgreSQL database against C-loader parse + ``COPY``; ``seed --all`` again,
  nothing changed, against the parse alone;
- ``isolation``: ``verify-isolation`` on N customers with ten range rows each (written
  with ``INSERT ... SELECT generate_series`` after ``kpictl init``) against (a) the same
  checks as hand-written set-based SQL and (b) the original design's loop, two queries
  per customer (at full size measured on a sample of customers and extrapolated);
- ``score``: ``score --all`` (``-o table``, the default, and ``-o json``) on N customers
  with ten observations each (ten KPIs, one observation per KPI) against one hand-written
  SQL query for the ranges-model scores;
- ``import``: ``observations import`` of a CSV (ten KPIs, ten times per KPI) against
  psycopg2 ``COPY`` of the same file into a staging table and one ``INSERT ... SELECT``
  joining customers for the customer_id.

The database steps run at two sizes, N and ten times N (full: N/10 and N), so that the
peak RSS of kpictl can be seen to stay flat when the data grows tenfold. A kpictl run far
beyond its target (``--timeout-factor`` times what the target allows) is killed and
reported as missed, with its time as a lower bound.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

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

STEPS = ("startup", "files", "isolation", "score", "import")
RSS_TARGET_MB = 200.0
RSS_FLAT = 1.25  # "flat": peak RSS grows by at most this factor when N grows tenfold


@dataclass(frozen=True)
class Sizes:
    files: int  # customer range files for validate/seed
    repeat: int  # runs per measurement of startup and file steps (the median is reported)
    customers: int  # N: customers of verify-isolation and score --all, 10 KPIs each
    import_rows: int  # rows of the observations CSV at the base size
    loop_sample: int  # loop baseline: customers measured; the rest extrapolated at their pace
    scales: tuple[float, ...]  # the database steps run at N × each scale (1: the target size)
    db_repeat: int  # runs per measurement of the database steps at scale 1 (others: one)
    timeout_floor: float  # seconds a kpictl run of a database step may always take
    obs_per_kpi: int = 1  # score --all: observations per customer and KPI
    startup_repeat: int = 7


FULL = Sizes(
    files=10_000,
    repeat=5,
    customers=100_000,
    import_rows=3_000_000,
    loop_sample=10_000,
    scales=(0.1, 1.0),
    db_repeat=3,
    timeout_floor=120.0,
)
QUICK = Sizes(
    files=150,
    repeat=3,
    customers=2_000,
    import_rows=60_000,
    loop_sample=2_000,
    scales=(1.0, 10.0),
    db_repeat=2,
    timeout_floor=15.0,
)


@dataclass
class Result:
    step: str
    size: str
    median: float
    baseline: float
    rss_mb: float
    target: str  # e.g. "<= 1.5x" (kpictl/baseline) or ">= 25x faster" (baseline/kpictl)
    note: str = ""
    runs: int = 0
    timed_out: bool = False  # kpictl was killed after ``median`` seconds: a lower bound
    judged: bool = True  # False: a tenth (or tenfold) of the target size, for the RSS check

    @property
    def faster(self) -> bool:
        return self.target.endswith("faster")

    @property
    def ratio(self) -> float:
        """kpictl/baseline; for a "faster" target, baseline/kpictl (how many times faster)."""
        if self.faster:
            return self.baseline / self.median if self.median else float("nan")
        return self.median / self.baseline if self.baseline else float("nan")

    @property
    def met(self) -> bool:
        if self.timed_out:
            return False
        bound = float(self.target.split()[1].rstrip("x"))
        return self.ratio >= bound if self.faster else self.ratio <= bound

    @property
    def verdict(self) -> str:
        """yes / NO against the target; "-" at a size the target is not stated for."""
        if not self.judged:
            return "-"
        return "yes" if self.met else "NO"


def at_target_size(results: list[Result], size: int) -> list[Result]:
    """The results, those of another size than ``size`` marked not judged (they are
    there for the peak-RSS check; start-up costs dominate small sizes)."""
    return [replace(r, judged=r.size.startswith(f"{size:,} ")) for r in results]


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


def python_script(source: str, *args: str) -> list[str]:
    return [sys.executable, "-c", source, *args]


# -- range files ---------------------------------------------------------------------


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


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


class Databases:
    """Creates (and at the end drops) scratch PostgreSQL databases."""

    def __init__(self, admin_url: str) -> None:
        import psycopg2

        self.admin_url = admin_url
        self.created: list[str] = []
        self._psycopg2 = psycopg2

    def connect(self, url: str, *, autocommit: bool = False) -> Any:
        conn = self._psycopg2.connect(_dsn(url))
        conn.autocommit = autocommit
        return conn

    def _admin(self, sql: str) -> None:
        conn = self.connect(self.admin_url, autocommit=True)
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.close()

    def fresh(self) -> str:
        name = f"kpictl_bench_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def initialised(self) -> str:
        """A fresh database on which ``kpictl init`` has run: kpictl's schema, constraints
        and row-level security."""
        url = self.fresh()
        timed([*KPICTL, "--db", url, "init"])
        return url

    def run(self, url: str, *statements: str, params: dict[str, Any] | None = None) -> None:
        """Each statement in its own transaction (VACUUM needs none)."""
        conn = self.connect(url, autocommit=True)
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql, params)
        conn.close()

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


# -- generated platforms (straight into the database, not through seed) -------------

_KPI_VALUES = ", ".join(
    f"('{name}', '{better}', {i})" for i, (name, (_unit, better)) in enumerate(KPIS.items())
)

_INSERT_CUSTOMERS = """
INSERT INTO customers (customer_id, slug, name)
SELECT i, 'customer-' || lpad(i::text, 6, '0'), 'Customer ' || i
FROM generate_series(1, %(n)s) AS i;
SELECT setval(pg_get_serial_sequence('customers', 'customer_id'), %(n)s);
"""

# customer 0 stands for the system defaults (customer_id NULL). Bands as in the range
# files above: contiguous, so every value falls in one; weights 1 to 3.
_INSERT_RANGES = f"""
SELECT setseed(0.42);
WITH kpi(kpi_name, better, ord) AS (VALUES {_KPI_VALUES}),
g AS (
    SELECT c, kpi_name, better,
           1 + floor(random() * 50) AS low, 1 + floor(random() * 50) AS span,
           1 + floor(random() * 3) AS weight
    FROM generate_series(0, %(n)s) AS c CROSS JOIN kpi
    WHERE c = 0 OR (c + ord) %% %(every)s = 0
)
INSERT INTO kpi_reference_ranges (customer_id, kpi_name, critical_min, critical_max,
                                  risk_min, risk_max, healthy_min, healthy_max, weight)
SELECT NULLIF(c, 0), kpi_name,
       CASE WHEN better = 'higher' THEN NULL ELSE low + span END,
       CASE WHEN better = 'higher' THEN low END,
       low, low + span,
       CASE WHEN better = 'higher' THEN low + span END,
       CASE WHEN better = 'higher' THEN NULL ELSE low END,
       weight
FROM g ORDER BY c, kpi_name;
"""

_INSERT_OBSERVATIONS = f"""
SELECT setseed(0.43);
WITH kpi(kpi_name, better, ord) AS (VALUES {_KPI_VALUES})
INSERT INTO kpi_observations (customer_id, kpi_name, observed_at, value)
SELECT c, kpi_name, timestamptz '2026-01-01T00:00:00Z' + t * interval '1 day',
       round((random() * 100)::numeric, 1)
FROM generate_series(1, %(n)s) AS c CROSS JOIN kpi CROSS JOIN generate_series(0, %(t)s - 1) AS t
ORDER BY c, kpi_name, t;
"""


def generate_platform(
    dbs: Databases, url: str, customers: int, *, override_every: int, obs_per_kpi: int = 0
) -> None:
    """Customers, ranges (defaults for every KPI; customer c overrides the KPIs whose
    catalog position k has (c + k) % override_every == 0) and observations, then
    VACUUM ANALYZE so kpictl and the baselines start from the same statistics."""
    statements = [_INSERT_CUSTOMERS, _INSERT_RANGES]
    if obs_per_kpi:
        statements.append(_INSERT_OBSERVATIONS)
    dbs.run(
        url,
        *statements,
        "VACUUM ANALYZE",
        params={"n": customers, "every": override_every, "t": obs_per_kpi},
    )


# -- verify-isolation baselines ------------------------------------------------------

BASELINE_ISOLATION_SQL = textwrap.dedent(
    """
    import sys, psycopg2
    conn = psycopg2.connect(sys.argv[1])
    found = {}
    with conn, conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # unique_customer_kpi
        cur.execute(
            "SELECT customer_id, kpi_name, array_agg(range_id) FROM kpi_reference_ranges "
            "WHERE customer_id IS NOT NULL GROUP BY customer_id, kpi_name HAVING count(*) > 1")
        found["unique_customer_kpi"] = cur.fetchall()
        # unique_default_kpi
        cur.execute(
            "SELECT kpi_name, array_agg(range_id) FROM kpi_reference_ranges "
            "WHERE customer_id IS NULL GROUP BY kpi_name HAVING count(*) > 1")
        found["unique_default_kpi"] = cur.fetchall()
        # no_orphan_rows, every tenant table
        cur.execute(
            "SELECT 'kpi_reference_ranges', range_id, customer_id FROM kpi_reference_ranges t "
            "WHERE customer_id IS NOT NULL AND NOT EXISTS "
            "  (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id) "
            "UNION ALL SELECT 'kpi_observations', observation_id, customer_id "
            "FROM kpi_observations t WHERE NOT EXISTS "
            "  (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id) "
            "UNION ALL SELECT 'health_scores', score_id, customer_id FROM health_scores t "
            "WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id)")
        found["no_orphan_rows"] = cur.fetchall()
        # effective_one_per_kpi and no_foreign_rows: every customer's effective view
        # (its own rows, and the defaults of the KPIs it does not override) at once
        cur.execute(
            "WITH view AS ("
            "  SELECT c.customer_id AS viewer, r.range_id, r.customer_id AS owner, r.kpi_name "
            "  FROM customers c JOIN kpi_reference_ranges r ON r.customer_id = c.customer_id "
            "  UNION ALL "
            "  SELECT c.customer_id, d.range_id, d.customer_id, d.kpi_name "
            "  FROM customers c CROSS JOIN kpi_reference_ranges d "
            "  WHERE d.customer_id IS NULL AND NOT EXISTS (SELECT 1 FROM kpi_reference_ranges o "
            "    WHERE o.customer_id = c.customer_id AND o.kpi_name = d.kpi_name)) "
            "SELECT viewer, kpi_name, array_agg(range_id), array_agg(owner) FROM view "
            "GROUP BY viewer, kpi_name "
            "HAVING count(*) > 1 OR bool_or(owner IS NOT NULL AND owner <> viewer)")
        found["effective_view"] = cur.fetchall()
    conn.close()
    bad = {k: len(v) for k, v in found.items() if v}
    sys.exit(1 if bad else 0)
    """
)

BASELINE_ISOLATION_LOOP = textwrap.dedent(
    """
    import json, sys, time, psycopg2
    dsn, sample = sys.argv[1], int(sys.argv[2])
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    # the checks that were set-based already in the original design
    cur.execute(
        "SELECT customer_id, kpi_name FROM kpi_reference_ranges "
        "GROUP BY customer_id, kpi_name HAVING count(*) > 1")
    cur.fetchall()
    cur.execute(
        "SELECT range_id FROM kpi_reference_ranges t WHERE customer_id IS NOT NULL AND "
        "NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id)")
    cur.fetchall()
    cur.execute("SELECT customer_id FROM customers ORDER BY customer_id")
    ids = [r[0] for r in cur.fetchall()]
    chosen = ids[:: max(1, len(ids) // sample)][:sample] if sample < len(ids) else ids
    started = time.perf_counter()
    duplicates = foreign = 0
    for cid in chosen:
        # two queries per customer: its own ranges, then the defaults it does not override
        cur.execute(
            "SELECT range_id, customer_id, kpi_name FROM kpi_reference_ranges "
            "WHERE customer_id = %s", (cid,))
        own = cur.fetchall()
        cur.execute(
            "SELECT range_id, customer_id, kpi_name FROM kpi_reference_ranges d "
            "WHERE d.customer_id IS NULL AND NOT EXISTS (SELECT 1 FROM kpi_reference_ranges o "
            "WHERE o.customer_id = %s AND o.kpi_name = d.kpi_name)", (cid,))
        seen = set()
        for range_id, owner, kpi in own + cur.fetchall():
            duplicates += kpi in seen
            foreign += owner is not None and owner != cid
            seen.add(kpi)
    loop = time.perf_counter() - started
    conn.rollback()
    conn.close()
    print(json.dumps({"measured": len(chosen), "customers": len(ids), "loop_seconds": loop}))
    sys.exit(1 if duplicates or foreign else 0)
    """
)


# -- score --all baseline ------------------------------------------------------------


def _effective(column: str) -> str:
    return f"CASE WHEN o.range_id IS NULL THEN d.{column} ELSE o.{column} END AS {column}"


_BOUNDS = ("critical_min", "critical_max", "risk_min", "risk_max", "healthy_min", "healthy_max")


def _in_band(band: str, value: str, prefix: str = "") -> str:
    lo, hi = f"{prefix}{band}_min", f"{prefix}{band}_max"
    return (
        f"(({lo} IS NOT NULL OR {hi} IS NOT NULL) AND {value} >= COALESCE({lo}, '-Infinity') "
        f"AND {value} < COALESCE({hi}, 'Infinity'))"
    )


# The ranges model (SPEC section 4) in one statement: the latest value per customer and
# KPI at or before T, the effective range of each (own row, else the default row), the
# band holding the value → points (100/50/0), Σ weight·points / Σ weight over the KPIs in
# a band; the overall status from the effective health_score range, else the thresholds.
SCORE_SQL = f"""
WITH latest AS (
    SELECT DISTINCT ON (customer_id, kpi_name) customer_id, kpi_name, value
    FROM kpi_observations
    WHERE observed_at <= %(at)s AND kpi_name <> 'health_score'
    ORDER BY customer_id, kpi_name, observed_at DESC
),
effective AS (
    SELECT l.customer_id, l.value, {", ".join(_effective(c) for c in (*_BOUNDS, "weight"))}
    FROM latest l
    LEFT JOIN kpi_reference_ranges o ON o.customer_id = l.customer_id AND o.kpi_name = l.kpi_name
    LEFT JOIN kpi_reference_ranges d ON d.customer_id IS NULL AND d.kpi_name = l.kpi_name
),
points AS (
    SELECT customer_id, weight,
           CASE WHEN {_in_band("healthy", "value")} THEN 100.0
                WHEN {_in_band("risk", "value")} THEN 50.0
                WHEN {_in_band("critical", "value")} THEN 0.0 END AS points
    FROM effective
),
scores AS (
    SELECT customer_id,
           round((sum(weight * points) / NULLIF(sum(weight), 0))::numeric, 6)::float8 AS score
    FROM points WHERE points IS NOT NULL GROUP BY customer_id
),
health AS (
    SELECT c.customer_id, {", ".join(_effective(c) for c in _BOUNDS)},
           (o.range_id IS NOT NULL OR d.range_id IS NOT NULL) AS has_range
    FROM customers c
    LEFT JOIN kpi_reference_ranges o ON o.customer_id = c.customer_id
                                     AND o.kpi_name = 'health_score'
    LEFT JOIN kpi_reference_ranges d ON d.customer_id IS NULL AND d.kpi_name = 'health_score'
)
SELECT c.slug, s.score,
       CASE WHEN s.score IS NULL THEN NULL
            WHEN NOT h.has_range THEN CASE WHEN s.score >= 70 THEN 'healthy'
                                           WHEN s.score >= 40 THEN 'risk' ELSE 'critical' END
            WHEN {_in_band("healthy", "s.score", "h.")} THEN 'healthy'
            WHEN {_in_band("risk", "s.score", "h.")} THEN 'risk'
            WHEN {_in_band("critical", "s.score", "h.")} THEN 'critical'
            ELSE 'unknown' END AS status
FROM customers c
LEFT JOIN scores s ON s.customer_id = c.customer_id
JOIN health h ON h.customer_id = c.customer_id
ORDER BY s.score IS NULL, s.score, c.slug
"""

BASELINE_SCORE = textwrap.dedent(
    """
    import sys, psycopg2
    conn = psycopg2.connect(sys.argv[1])
    with conn, conn.cursor() as cur:
        cur.execute(sys.argv[3], {"at": sys.argv[2]})
        rows = cur.fetchall()
    conn.close()
    out = sys.stdout
    for slug, score, status in rows:
        out.write(f"{slug},{score},{status}\\n")
    """
)


# -- observations import baseline ----------------------------------------------------

BASELINE_IMPORT = textwrap.dedent(
    """
    import sys, psycopg2
    path, dsn = sys.argv[1], sys.argv[2]
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur, open(path, "rb") as f:
        cur.execute(
            "CREATE TEMPORARY TABLE staging (customer text, kpi_name text, value float8, "
            "observed_at timestamptz) ON COMMIT DROP")
        cur.copy_expert("COPY staging FROM STDIN WITH (FORMAT csv, HEADER true)", f)
        cur.execute(
            "INSERT INTO kpi_observations (customer_id, kpi_name, observed_at, value) "
            "SELECT c.customer_id, s.kpi_name, s.observed_at, s.value "
            "FROM staging s JOIN customers c ON c.slug = s.customer")
    conn.close()
    """
)

IMPORT_TIMES_PER_KPI = 10


def write_observations_csv(path: Path, rows: int, *, seed: int = 11) -> int:
    """A CSV of ``rows`` observations: ten KPIs × ten times per customer; returns the
    number of customers it names."""
    rng = random.Random(seed)
    per_customer = len(KPIS) * IMPORT_TIMES_PER_KPI
    customers = math.ceil(rows / per_customer)
    times = [f"2026-01-{d + 1:02d}T06:00:00Z" for d in range(IMPORT_TIMES_PER_KPI)]
    written = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("customer,kpi_name,value,observed_at\n")
        for c in range(1, customers + 1):
            slug = f"customer-{c:06d}"
            lines = []
            for kpi in KPIS:
                for t in times:
                    if written == rows:
                        break
                    lines.append(f"{slug},{kpi},{rng.randint(0, 10_000) / 10},{t}\n")
                    written += 1
            f.writelines(lines)
    return customers


# -- steps ---------------------------------------------------------------------------


def startup_steps(work: Path, sizes: Sizes) -> list[Result]:
    ranges = write_ranges(work / "small", 3)
    one_file = ranges / "customers" / "customer-000000.yaml"
    sqlite_url = f"sqlite:///{work / 'small' / 'kpictl.db'}"
    env = {"KPICTL_RANGES_DIR": str(ranges), "KPICTL_DATABASE_URL": sqlite_url}
    timed([*KPICTL, "seed", "--all"], env=env)
    repeat = sizes.startup_repeat
    base = median_of(repeat, lambda: timed(PYTHON_PASS))
    out = []
    for step, argv, target in [
        ("kpictl --version", ["--version"], "<= 3x"),
        ("kpictl --help", ["--help"], "<= 12x"),
        ("kpictl validate (one file)", ["validate", str(one_file)], "<= 12x"),
        ("kpictl list --customer X (SQLite)", ["list", "--customer", "customer-000000"], "<= 30x"),
    ]:
        run = median_of(repeat, functools.partial(timed, [*KPICTL, *argv], env=env))
        out.append(Result(step, "-", run.median, base.median, run.rss_mb, target, runs=repeat))
    return out


def file_steps(work: Path, sizes: Sizes, dbs: Databases | None) -> list[Result]:
    """validate and seed at the size the targets are stated for and, like the database
    steps, at a tenfold different one (one run, for the peak-RSS check)."""
    out = []
    for files, repeat in _scaled(sizes, sizes.files, sizes.repeat):
        out += _file_steps_at(work / f"files-{files}", files, repeat, dbs)
    return at_target_size(out, sizes.files)


def _file_steps_at(work: Path, files: int, repeat: int, dbs: Databases | None) -> list[Result]:
    ranges = write_ranges(work, files)
    size = f"{files:,} files"
    out = []
    base = median_of(repeat, lambda: timed(python_script(BASELINE_PARSE, str(ranges))))
    run = median_of(repeat, lambda: timed([*KPICTL, "validate", str(ranges)]))
    out.append(
        Result(
            "validate (all files)",
            size,
            run.median,
            base.median,
            run.rss_mb,
            "<= 1.0x",
            runs=repeat,
        )
    )
    if dbs is None:
        return out

    rows = f"{files:,} customers, {files * 10:,} rows"
    urls: list[str] = []

    def fresh_initialised() -> None:
        for url in urls:
            dbs.drop(url)
        urls.clear()
        urls.append(dbs.initialised())

    copy_base = median_of(
        repeat,
        lambda: timed(python_script(BASELINE_COPY, str(ranges), _dsn(urls[0]))),
        prepare=fresh_initialised,
    )
    seed_env = {"KPICTL_RANGES_DIR": str(ranges)}
    run = median_of(
        repeat,
        lambda: timed([*KPICTL, "--db", urls[0], "seed", "--all"], env=seed_env),
        prepare=fresh_initialised,
    )
    out.append(
        Result(
            "seed --all, empty database",
            rows,
            run.median,
            copy_base.median,
            run.rss_mb,
            "<= 1.5x",
            runs=repeat,
        )
    )
    run = median_of(
        repeat, lambda: timed([*KPICTL, "--db", urls[0], "seed", "--all"], env=seed_env)
    )
    out.append(
        Result(
            "seed --all, nothing changed",
            rows,
            run.median,
            base.median,
            run.rss_mb,
            "<= 0.3x",
            runs=repeat,
        )
    )
    for url in urls:
        dbs.drop(url)
    return out


# -- the database steps: each at several sizes, kpictl bounded by a timeout ----------


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


def _scaled(sizes: Sizes, base: int, repeat: int | None = None) -> list[tuple[int, int]]:
    """(N, runs per measurement) for each scale: ``repeat`` (default ``sizes.db_repeat``)
    runs at the scale 1 (the size the targets are stated for), one run at the others."""
    runs = sizes.db_repeat if repeat is None else repeat
    return [(max(1, round(base * scale)), runs if scale == 1 else 1) for scale in sizes.scales]


def _measure_kpictl(
    step: str,
    size: str,
    runs: int,
    argv: Sequence[str],
    baseline: float,
    target: str,
    budget: Budget,
    *,
    note: str = "",
    env: dict[str, str] | None = None,
    prepare: Callable[[], None] | None = None,
) -> Result:
    timeout = budget.timeout(baseline, target)
    run = median_of(runs, lambda: timed(argv, env=env, timeout=timeout), prepare)
    if run.timed_out:
        note = f"kpictl killed after {run.median:.0f}s; " + note
    return Result(
        step,
        size,
        run.median,
        baseline,
        run.rss_mb,
        target,
        note,
        runs=runs,
        timed_out=run.timed_out,
    )


def _not_run(step: str, size: str, target: str, why: str) -> Result:
    return Result(step, size, math.nan, math.nan, math.nan, target, why, timed_out=True)


def isolation_steps(
    sizes: Sizes, dbs: Databases, budget: Budget, log: Callable[[str], None]
) -> list[Result]:
    out: list[Result] = []
    gave_up = False
    for n, runs in _scaled(sizes, sizes.customers):
        size = f"{n:,} customers, {n * 10:,} rows"
        sql_step, loop_step = "verify-isolation vs set-based SQL", "verify-isolation vs loop"
        if gave_up:
            why = "not run: kpictl timed out at the smaller size"
            out += [
                _not_run(sql_step, size, "<= 1.5x", why),
                _not_run(loop_step, size, ">= 25x faster", why),
            ]
            continue
        url = dbs.initialised()
        started = time.perf_counter()
        generate_platform(dbs, url, n, override_every=1)
        log(f"isolation: {size} generated in {_s(started)}")
        baseline = python_script(BASELINE_ISOLATION_SQL, _dsn(url))
        sql = median_of(runs, functools.partial(timed, baseline))
        kpictl = [*KPICTL, "--db", url, "verify-isolation"]
        first = _measure_kpictl(sql_step, size, runs, kpictl, sql.median, "<= 1.5x", budget)
        out.append(first)
        # the loop: on at most loop_sample customers, the rest extrapolated at its pace
        sample = min(n, sizes.loop_sample)
        loops: list[float] = []
        measured = n
        for _ in range(1 if sample < n else runs):
            run = timed(
                python_script(BASELINE_ISOLATION_LOOP, _dsn(url), str(sample)), capture=True
            )
            info = json.loads(run.stdout)
            measured = info["measured"]
            per_customer = info["loop_seconds"] / measured
            loops.append(run.seconds + per_customer * (info["customers"] - measured))
        note = (
            f"loop EXTRAPOLATED from {measured:,} of {n:,} customers"
            if measured < n
            else "loop over every customer"
        )
        # the hand-written set-based SQL against the same loop: what is reachable at all
        note += (
            f"; the set-based SQL baseline is {statistics.median(loops) / sql.median:.1f}x faster"
        )
        out.append(
            replace(
                first,
                step=loop_step,
                baseline=statistics.median(loops),
                target=">= 25x faster",
                note=(first.note + note) if first.timed_out else note,
            )
        )
        gave_up = first.timed_out
        log(report(out[-2:]))
        dbs.drop(url)
    return at_target_size(out, sizes.customers)


SCORE_AT = "2026-06-01T00:00:00Z"
SCORE_OUTPUTS = ("table", "json")


def score_steps(
    sizes: Sizes, dbs: Databases, budget: Budget, log: Callable[[str], None]
) -> list[Result]:
    out: list[Result] = []
    per_kpi = sizes.obs_per_kpi
    gave_up: set[str] = set()
    for n, runs in _scaled(sizes, sizes.customers):
        observations = n * len(KPIS) * per_kpi
        size = f"{n:,} customers, {observations:,} obs."
        if gave_up >= set(SCORE_OUTPUTS):
            why = "not run: kpictl timed out at the smaller size"
            out += [
                _not_run(f"score --all -o {o} vs one SQL query", size, "<= 2x", why)
                for o in SCORE_OUTPUTS
            ]
            continue
        url = dbs.initialised()
        started = time.perf_counter()
        generate_platform(dbs, url, n, override_every=3, obs_per_kpi=per_kpi)
        log(f"score: {size} generated in {_s(started)}")
        baseline = python_script(BASELINE_SCORE, _dsn(url), SCORE_AT, SCORE_SQL)
        base = median_of(runs, functools.partial(timed, baseline))
        note = f"10 KPIs x {per_kpi} obs.; ranges model everywhere"
        for output in SCORE_OUTPUTS:
            step = f"score --all -o {output} vs one SQL query"
            if output in gave_up:
                out.append(_not_run(step, size, "<= 2x", "not run: timed out at the smaller size"))
                continue
            argv = [*KPICTL, "--db", url, "score", "--all", "--at", SCORE_AT, "-o", output]
            result = _measure_kpictl(
                step, size, runs, argv, base.median, "<= 2x", budget, note=note
            )
            out.append(result)
            if result.timed_out:
                gave_up.add(output)
        log(report(out[-len(SCORE_OUTPUTS) :]))
        dbs.drop(url)
    return at_target_size(out, sizes.customers)


def import_steps(
    work: Path, sizes: Sizes, dbs: Databases, budget: Budget, log: Callable[[str], None]
) -> list[Result]:
    out: list[Result] = []
    step = "observations import vs COPY"
    ranges = write_ranges(work / "import", 0)  # the catalog: kpictl checks KPI names with it
    note = "baseline: COPY to a staging table + INSERT ... SELECT join customers; empty table"
    gave_up = False
    for rows, runs in _scaled(sizes, sizes.import_rows):
        if gave_up:
            out.append(
                _not_run(
                    step,
                    f"{rows:,} rows",
                    "<= 2.5x",
                    "not run: kpictl timed out at the smaller size",
                )
            )
            continue
        csv_path = work / f"observations-{rows}.csv"
        started = time.perf_counter()
        customers = write_observations_csv(csv_path, rows)
        url = dbs.initialised()
        generate_platform(dbs, url, customers, override_every=len(KPIS) + 1)
        size = f"{rows:,} rows, {csv_path.stat().st_size / 2**20:,.0f} MiB"
        log(f"import: {size}, {customers:,} customers, written in {_s(started)}")

        def empty(url: str = url) -> None:
            dbs.run(url, "TRUNCATE kpi_observations RESTART IDENTITY", "VACUUM ANALYZE")

        baseline = python_script(BASELINE_IMPORT, str(csv_path), _dsn(url))
        base = median_of(runs, functools.partial(timed, baseline), empty)
        argv = [*KPICTL, "--db", url, "observations", "import", str(csv_path)]
        result = _measure_kpictl(
            step,
            size,
            runs,
            argv,
            base.median,
            "<= 2.5x",
            budget,
            note=note,
            env={"KPICTL_RANGES_DIR": str(ranges)},
            prepare=empty,
        )
        out.append(result)
        gave_up = result.timed_out
        log(report(out[-1:]))
        dbs.drop(url)
        csv_path.unlink()
    return at_target_size(out, sizes.import_rows)


def _s(started: float) -> str:
    return f"{time.perf_counter() - started:.1f}s"


# -- report --------------------------------------------------------------------------


def _seconds(r: Result, value: float, *, lower_bound: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{'>' if lower_bound else ''}{value:.3f}s"


def report(results: Sequence[Result]) -> str:
    """The results as a markdown table."""
    head = (
        f"| {'step':<38} | {'size':<34} | {'kpictl':>9} | {'baseline':>9} | {'ratio':>13} "
        f"| {'target':>13} | met | {'peak RSS':>8} | runs | notes |"
    )
    rule = "|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|"
    lines = [head, rule]
    for r in results:
        if math.isnan(r.ratio):
            ratio = "-"
        elif r.faster:  # a timed-out kpictl is at most this much faster
            ratio = f"{'<' if r.timed_out else ''}{r.ratio:.1f}x faster"
        else:
            ratio = f"{'>' if r.timed_out else ''}{r.ratio:.2f}x"
        if math.isnan(r.rss_mb):
            rss = "-"
        else:
            over = r.rss_mb > RSS_TARGET_MB
            rss = f"{'>' if r.timed_out and over else ''}{r.rss_mb:.0f} MB{'!' if over else ''}"
        lines.append(
            f"| {r.step:<38} | {r.size:<34} | {_seconds(r, r.median, lower_bound=r.timed_out):>9} "
            f"| {_seconds(r, r.baseline):>9} | {ratio:>13} | {r.target:>13} "
            f"| {r.verdict:<3} | {rss:>8} | {r.runs:>4} | {r.note} |"
        )
    return "\n".join(lines)


def rss_summary(results: Sequence[Result]) -> str:
    """Peak RSS per step: the target, and whether it stays flat when N grows tenfold."""
    lines = [
        f"peak RSS of kpictl (target <= {RSS_TARGET_MB:.0f} MB, and flat: at most "
        f"x{RSS_FLAT} when N grows tenfold):"
    ]
    by_step: dict[str, list[Result]] = {}
    for r in results:
        if r.size != "-" and not math.isnan(r.rss_mb):
            by_step.setdefault(r.step, []).append(r)
    for step, rs in by_step.items():
        figures = " -> ".join(f"{r.rss_mb:.0f} MB ({r.size.split(', ')[0]})" for r in rs)
        verdict = "ok" if all(r.rss_mb <= RSS_TARGET_MB for r in rs) else "OVER TARGET"
        if len(rs) > 1:
            growth = rs[-1].rss_mb / rs[0].rss_mb
            verdict += f"; x{growth:.2f}: " + ("flat" if growth <= RSS_FLAT else "GROWS")
        if any(r.timed_out for r in rs):
            verdict += " (a run was killed: its peak is a lower bound)"
        lines.append(f"- {step}: {figures}: {verdict}")
    return "\n".join(lines)


NOTES = """\
How to read it: ratio = kpictl / baseline (for the loop: how many times faster kpictl is).
- verify-isolation: customers and ten range rows each generated with INSERT ... SELECT
  generate_series after `kpictl init` (kpictl's schema, constraints and RLS); no observations.
  Set-based baseline: duplicate pairs, duplicate defaults, orphans (three tables), every
  customer's effective view (one row per KPI, no foreign row), in one psycopg2 process; it does
  not probe row-level security, which kpictl also does. Loop baseline: per customer, its own
  ranges and the defaults it does not override (two queries), checked in Python.
- score --all: ten KPIs, one observation each per customer at a time before --at; customers
  override a third of the KPIs, the defaults fill the rest; no scoring section anywhere, so
  every customer has the ranges model. Baseline: one SQL statement (latest value at --at,
  effective range, band -> points, weighted mean, status from the health_score range), rows
  fetched and written out by psycopg2.
- observations import: into an empty kpi_observations (TRUNCATE + VACUUM ANALYZE before each
  run); CSV of ten KPIs x ten times per customer, with a zone. Baseline: COPY of the file into a
  temporary staging table and one INSERT ... SELECT joining customers on the slug.
- A kpictl run slower than --timeout-factor times what its target allows (at least
  --min-timeout s) is killed: its time is a lower bound and the larger size is not run."""

QUICK_NOTE = """\
--quick: the targets are stated for the full sizes. At these sizes kpictl's fixed start-up
(Python, SQLAlchemy, connecting, checking the schema version: about half a second) weighs
on every ratio; read the quick table for regressions and for the RSS growth, not as a verdict."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kpictl.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "KPICTL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="admin URL of a PostgreSQL server for the database steps ('' to skip them)",
    )
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma-separated steps to run (default: all of {','.join(STEPS)})",
    )
    parser.add_argument("--files", type=int, help="override the number of range files")
    parser.add_argument(
        "--customers", type=int, help="override N, the customers of verify-isolation and score"
    )
    parser.add_argument("--import-rows", type=int, help="override the rows of the import CSV")
    parser.add_argument(
        "--loop-sample",
        type=int,
        help="customers the per-customer loop baseline measures before extrapolating",
    )
    parser.add_argument(
        "--obs-per-kpi", type=int, help="score --all: observations per customer and KPI"
    )
    parser.add_argument(
        "--single-size",
        action="store_true",
        help="run the database steps at N only (no tenfold RSS check)",
    )
    parser.add_argument("--repeat", type=int, help="runs per measurement (every step)")
    parser.add_argument(
        "--timeout-factor",
        type=float,
        default=10.0,
        help="kill a kpictl run of a database step after this many times the time its "
        "target allows (default 10); the step is then reported as missed, with a lower bound",
    )
    parser.add_argument(
        "--min-timeout",
        type=float,
        help="but never before this many seconds (default: quick 15, full 120)",
    )
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    sizes = QUICK if args.quick else FULL
    overrides = {
        "files": args.files,
        "customers": args.customers,
        "import_rows": args.import_rows,
        "loop_sample": args.loop_sample,
        "obs_per_kpi": args.obs_per_kpi,
        "repeat": args.repeat,
        "db_repeat": args.repeat,
        "startup_repeat": args.repeat,
        "timeout_floor": args.min_timeout,
    }
    sizes = replace(sizes, **{k: v for k, v in overrides.items() if v})
    if args.single_size:
        sizes = replace(sizes, scales=(1.0,))

    budget = Budget(args.timeout_factor, sizes.timeout_floor)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="kpictl-bench-"))
    dbs = Databases(args.pg) if args.pg else None
    results: list[Result] = []
    started = time.perf_counter()
    try:
        log(
            f"kpictl benchmark: {'quick' if args.quick else 'full'} sizes, "
            f"steps {','.join(steps)}, "
            f"median of {sizes.repeat} runs ({sizes.db_repeat} for the database steps), "
            f"work dir {work}"
        )
        if "startup" in steps:
            results += startup_steps(work, sizes)
            log(report(results))
        if "files" in steps:
            results += file_steps(work, sizes, dbs)
            log(report(results[-6:]))
        if dbs is None:
            if {"isolation", "score", "import"} & set(steps):
                log("no PostgreSQL (--pg ''): the isolation, score and import steps are skipped")
        else:
            if "isolation" in steps:
                results += isolation_steps(sizes, dbs, budget, log)
            if "score" in steps:
                results += score_steps(sizes, dbs, budget, log)
            if "import" in steps:
                results += import_steps(work, sizes, dbs, budget, log)
    finally:
        if dbs:
            dbs.drop_all()
        shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    print()
    print(rss_summary(results))
    print()
    print(NOTES)
    if args.quick:
        print(QUICK_NOTE)
    print()
    print(
        f"{len(results)} measurements in {time.perf_counter() - started:.0f}s; "
        f"{sum(1 for r in results if r.judged and not r.met)} ratio target(s) missed "
        "(at the sizes they are stated for). Medians of wall "
        "times in fresh processes on a shared machine (others' test suites may run at the "
        "same time): compare the ratios, not the seconds."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
