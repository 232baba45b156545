"""The data the benchmark runs on: range files, generated PostgreSQL platforms (customers,
ranges, observations written with ``INSERT ... SELECT generate_series``), the CSV of the
import step, and the scratch databases that hold them. The KPIs are those of the
project's catalog, ``ranges/kpis.yaml``."""

from __future__ import annotations

import math
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import KPICTL, timed

CATALOG = Path(__file__).resolve().parent.parent / "ranges" / "kpis.yaml"


def read_catalog(path: Path = CATALOG) -> dict[str, tuple[str, str]]:
    """name -> (unit, better) of every KPI of the catalog, in its order."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: (spec["unit"], spec["better"]) for name, spec in doc["kpis"].items()}


KPIS = read_catalog()


# -- range files ---------------------------------------------------------------------


def write_ranges(root: Path, customers: int, *, seed: int = 7) -> Path:
    """A ranges directory: the project's catalog (a copy of ``ranges/kpis.yaml``), and
    defaults and ``customers`` customer files that set a range for every KPI of it."""
    rng = random.Random(seed)
    ranges = root / "ranges"
    (ranges / "customers").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CATALOG, ranges / "kpis.yaml")
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


IMPORT_TIMES_PER_KPI = 10


def write_observations_csv(path: Path, rows: int, *, seed: int = 11) -> int:
    """A CSV of ``rows`` observations: every KPI × ten times per customer; returns the
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
