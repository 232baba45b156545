"""The baselines: the same work as each kpictl step, done as directly as the tools allow
(the C YAML loader, psycopg2 ``COPY``, hand-written SQL). Each is a script run with
``python -c`` in a fresh process, like kpictl itself."""

from __future__ import annotations

import textwrap

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


# The time every score is computed at, by kpictl (--at) and the baseline alike.
SCORE_AT = "2026-06-01T00:00:00Z"

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
