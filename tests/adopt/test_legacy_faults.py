"""The faults a hand-seeded table has: each is listed with its row ids. One that would
break a constraint kpictl adds refuses the adoption (exit 1, database unchanged); the
others are adopted as they are and listed as what ``validate`` will refuse."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

N = None
SHIPPED = Path(__file__).resolve().parents[2] / "ranges"


def _range_id(helpers, url: str, customer_id: int | None, kpi: str) -> int:
    where = "customer_id IS NULL" if customer_id is None else f"customer_id = {customer_id}"
    rows = helpers.execute(
        url,
        f"SELECT range_id FROM kpi_reference_ranges WHERE {where} AND kpi_name = :k "
        "ORDER BY range_id",
        params={"k": kpi},
    )
    return int(rows[-1][0])


def _untimed(text: str) -> str:
    """The plan without the time of adoption (SQLite's default for the time columns)."""
    return re.sub(r"'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d'", "'(now)'", text)


def _refused(cli, helpers, db_url: str, *args: str):
    """adopt (plan only) and adopt --yes both exit 1 and leave the database as it was."""
    before = helpers.database_state(db_url)
    plan = cli("adopt", *args, expect=1)
    result = cli("adopt", "--yes", *args, expect=1)
    assert helpers.database_state(db_url) == before
    assert _untimed(plan.stdout) == _untimed(result.stdout)
    assert "error: adoption refused:" in result.stderr
    assert "nothing was changed" in result.stderr
    assert "Traceback" not in result.output
    return result


def test_two_system_defaults_for_one_kpi_refuse_the_adoption(db_url, legacy, cli, helpers):
    """The application's plain UNIQUE treats NULLs as distinct and admitted them."""
    legacy.create_and_seed(db_url, [*legacy.RANGES, (N, "error_rate_pct", 6, N, 2, 6, N, 2)])
    first = helpers.execute(
        db_url,
        "SELECT range_id FROM kpi_reference_ranges WHERE customer_id IS NULL "
        "AND kpi_name = 'error_rate_pct' ORDER BY range_id",
    )
    ids = [r[0] for r in first]
    assert len(ids) == 2
    result = _refused(cli, helpers, db_url)
    assert "problems that refuse the adoption (1):" in result.stdout
    line = next(x for x in result.stdout.splitlines() if "system-default rows" in x)
    assert "2 system-default rows for error_rate_pct" in line
    assert f"[range_id {ids[0]}, {ids[1]}]" in line


def test_rows_of_a_customer_that_does_not_exist_refuse_the_adoption(db_url, legacy, cli, helpers):
    legacy.create_and_seed(db_url)
    disable_fk = (
        ["SET LOCAL session_replication_role = replica"] if db_url.startswith("postgresql") else []
    )
    helpers.execute(
        db_url,
        *disable_fk,
        "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, critical_max) "
        "VALUES (99, 'error_rate_pct', 1)",
    )
    orphan = _range_id(helpers, db_url, 99, "error_rate_pct")
    result = _refused(cli, helpers, db_url)
    assert re.search(
        rf"! rows of customer_id 99, which is not in customers .*\[range_id {orphan}\]",
        result.stdout,
    )


def test_slugs_that_collide_or_come_out_empty_refuse_the_adoption(
    db_url, legacy, cli, helpers, tmp_path
):
    legacy.create_and_seed(db_url)
    helpers.execute(
        db_url,
        "INSERT INTO customers (customer_id, name) VALUES "
        "(7, 'Data-Center'), (8, '!!!'), (9, :long)",
        params={"long": "A" * 70},
    )
    result = _refused(cli, helpers, db_url)
    out = result.stdout
    assert "problems that refuse the adoption (3):" in out
    assert "slug 'data-center' would be shared by customer ids 6, 7" in out
    assert "names give an empty slug for customer ids 8" in out
    assert f"slug '{'a' * 70}' of customer id 9 is not valid" in out
    for cid in (6, 7, 8, 9):
        assert re.search(rf"^\s+{cid}\s+.*-> \(none: see the problems below\)$", out, re.M)

    # resolved knowingly: a mapping names every slug
    mapping = tmp_path / "slugs.csv"
    mapping.write_text(
        "customer_id,slug\n1,acme\n2,globex\n6,data-center\n7,data-center-eu\n8,x\n9,long\n"
    )
    missing = tmp_path / "missing.csv"
    missing.write_text("customer_id,slug\n1,acme\n2,globex\n6,data-center\n")
    result = _refused(cli, helpers, db_url, "--slug-from", f"file:{missing}")
    assert f"no slug in {missing} for customer ids 7, 8, 9" in result.stdout
    cli("adopt", "--yes", "--slug-from", f"file:{mapping}")
    slugs = dict(helpers.execute(db_url, "SELECT customer_id, slug FROM customers"))
    assert slugs[7] == "data-center-eu" and slugs[9] == "long"


def test_faults_validate_refuses_are_adopted_and_listed(db_url, legacy, cli, helpers, tmp_path):
    """Inverted and overlapping bands, infinite (and on PostgreSQL NaN) bounds, KPIs
    outside the catalog: adopted as they are, listed with their range ids."""
    postgresql = db_url.startswith("postgresql")
    rows = [
        *legacy.RANGES,
        (2, "p95_latency_ms", 1500, 500, N, N, N, N),  # inverted: min >= max
        (2, "cold_start_pct", 10, N, 3, 12, N, 3),  # risk overlaps critical
        (2, "monthly_spend", N, 2000, 2000, 5000, 5000, math.inf),  # infinite bound
        (N, "legacy_metric", N, 1, 1, 2, 2, N),  # not in the shipped catalog
        (N, "Legacy Metric", N, 1, N, N, N, N),  # not a KPI name kpictl accepts
    ]
    if postgresql:  # SQLite stores NaN as NULL
        rows.append((2, "avg_execution_time_sec", 8, N, 2, math.nan, N, 2))
    legacy.create_and_seed(db_url, rows)
    ranges = tmp_path / "ranges"
    shutil.copytree(SHIPPED, ranges)
    original = helpers.original_rows(db_url, legacy.ORIGINAL_COLUMNS)

    result = cli("adopt", "--yes", ranges=ranges)
    out = result.stdout
    assert "problems that refuse" not in out
    listed = out.split("that 'kpictl validate' will refuse in the exported files")[1]

    def line_of(customer_id: int | None, kpi: str) -> str:
        rid = _range_id(helpers, db_url, customer_id, kpi)
        found = [x for x in listed.splitlines() if f"[range_id {rid}]" in x]
        assert found, f"range_id {rid} ({kpi}) is not listed:\n{out}"
        return found[0]

    assert "customer 2 (globex) ranges.p95_latency_ms.critical: min 1500 must be less than " in (
        line_of(2, "p95_latency_ms")
    )
    assert "bands critical [10, inf) and risk [3, 12) overlap" in line_of(2, "cold_start_pct")
    assert "monthly_spend.healthy.max: must be a finite number, got .inf" in line_of(
        2, "monthly_spend"
    )
    if postgresql:
        assert "risk.max: must be a finite number, got .nan" in line_of(2, "avg_execution_time_sec")
    assert f"KPIs not in {ranges / 'kpis.yaml'}: Legacy Metric, legacy_metric" in listed
    legacy_ids = f"{_range_id(helpers, db_url, N, 'legacy_metric')}, "
    assert f"[range_id {legacy_ids}{_range_id(helpers, db_url, N, 'Legacy Metric')}]" in listed
    assert "KPI name 'Legacy Metric' is not valid in kpis.yaml" in line_of(N, "Legacy Metric")
    assert "version 1 of 3 of the 4 scopes, as adopted" in out
    assert helpers.original_rows(db_url, legacy.ORIGINAL_COLUMNS) == original

    # the exported files carry the faults, and validate refuses them, naming them
    out_dir = tmp_path / "out"
    exported = cli("export", "--all", "--output-dir", str(out_dir), ranges=ranges, expect=1)
    assert "customers/globex.yaml" in exported.stderr
    validated = cli("validate", ranges=out_dir, expect=1)
    assert "KPI name 'Legacy Metric' is not valid" in validated.output
    # the other scopes were recorded as adopted: once the catalog is fixed, they match
    catalog = out_dir / "kpis.yaml"
    fixed = re.sub(
        r"  # review: [^\n]*\n  Legacy Metric:\n(    [^\n]*\n)+", "", catalog.read_text()
    )
    assert "Legacy" not in fixed
    catalog.write_text(fixed)
    diff = cli("diff", "--customer", "data-center", "--customer", "acme-corp", ranges=out_dir)
    assert "No differences" in diff.stdout
    cli("verify-isolation")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Data Center", "data-center"),
        ("  ACME, Inc. ", "acme-inc"),
        ("Café Müller", "cafe-muller"),
        ("a__b--c", "a-b-c"),
        ("!!!", ""),
        ("", ""),
    ],
)
def test_slug_from_name(name: str, slug: str) -> None:
    from kpictl.adopt.slugs import slug_from_name

    assert slug_from_name(name) == slug
