"""The benchmark runs (``python -m benchmarks``, a developer program outside the package):
a smoke test at a tiny size, not a timed test. It checks that every step runs and is
printed, that the baselines compute what kpictl computes, that the KPIs are those of the
project's catalog, and the pieces that decide a verdict (ratios, timeouts)."""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from benchmarks import baselines, data, harness, report
from benchmarks.run import main
from kpictl.cli.app import app

REPO = Path(__file__).resolve().parent.parent

PG_ADMIN_URL = os.environ.get("KPICTL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_admin() -> str:
    """The admin URL, or skip (outside CI) / fail (in CI) when no server answers."""
    import psycopg2

    try:
        psycopg2.connect(data._dsn(PG_ADMIN_URL), connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).strip()}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
        pytest.skip(reason)
    return PG_ADMIN_URL


STEP_NAMES = [
    "kpictl --version",
    "kpictl --help",
    "kpictl validate (one file)",
    "kpictl list --customer X (SQLite)",
    "validate (all files)",
    "seed --all, empty database",
    "seed --all, nothing changed",
    "verify-isolation vs set-based SQL",
    "verify-isolation vs loop",
    "score --all -o table vs one SQL query",
    "score --all -o json vs one SQL query",
    "observations import vs COPY",
]


@pytest.mark.postgres
def test_quick_benchmark_prints_every_step(
    pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--quick", "--pg", pg_admin, "--repeat", "1", "--files", "5", "--customers", "20"]
    argv += ["--import-rows", "300", "--loop-sample", "5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("| ")][1:]
    for name in STEP_NAMES:
        rows = [line for line in table if line.startswith(f"| {name} ")]
        # every step but start-up runs at two sizes, tenfold apart (the RSS check)
        expected = 1 if name.startswith("kpictl ") else 2
        assert len(rows) == expected, f"{name}: {rows}\n{out}"
        verdicts = [row.split("|")[7].strip() for row in rows]
        # judged at the size its target is stated for; the other size is the RSS check's
        assert verdicts.count("-") == expected - 1, rows
        assert set(verdicts) - {"-"} <= {"yes", "NO"} and len(set(verdicts) - {"-"}) == 1, rows
        for row in rows:
            assert "killed" not in row and "not run" not in row, row
            assert re.search(r" \d+ MB ", row), row  # measured, and under 200 MB
    assert "loop EXTRAPOLATED from 5 of 20 customers" in out
    assert "(20 customers) -> " in out and "(200 customers)" in out  # RSS at both sizes
    assert "peak RSS of kpictl" in out


@pytest.mark.postgres
def test_score_baseline_computes_the_scores_kpictl_computes(pg_admin: str) -> None:
    dbs = data.Databases(pg_admin)
    try:
        url = dbs.initialised()
        data.generate_platform(dbs, url, 40, override_every=3, obs_per_kpi=2)
        baseline = harness.python_script(
            baselines.BASELINE_SCORE, data._dsn(url), baselines.SCORE_AT, baselines.SCORE_SQL
        )
        expected = {}
        for line in harness.timed(baseline, capture=True).stdout.splitlines():
            slug, score, status = line.split(",")
            expected[slug] = (float(score), status)
        argv = [*harness.KPICTL, "--db", url, "score", "--all", "--at", baselines.SCORE_AT]
        argv += ["-o", "json"]
        scored = json.loads(harness.timed(argv, capture=True).stdout)
    finally:
        dbs.drop_all()
    assert len(scored) == 40 == len(expected)
    for s in scored:
        assert s["model"] == "ranges"
        assert expected[s["customer"]] == (pytest.approx(s["score"], abs=1e-6), s["status"])


@pytest.mark.postgres
def test_isolation_baselines_pass_a_sound_platform_and_fail_a_broken_one(pg_admin: str) -> None:
    dbs = data.Databases(pg_admin)

    def run_all(url: str) -> tuple[harness.Run, harness.Run, harness.Run]:
        dsn = data._dsn(url)
        checks = harness.timed(harness.python_script(baselines.BASELINE_ISOLATION_SQL, dsn))
        loop = harness.timed(
            harness.python_script(baselines.BASELINE_ISOLATION_LOOP, dsn, "10"), capture=True
        )
        kpictl = harness.timed([*harness.KPICTL, "--db", url, "verify-isolation"])
        return checks, loop, kpictl

    try:
        url = dbs.initialised()
        data.generate_platform(dbs, url, 25, override_every=2)
        sound = run_all(url)
        # a second row of customer 1 for one KPI: every one of them must see it
        dbs.run(
            url,
            "ALTER TABLE kpi_reference_ranges DROP CONSTRAINT uq_customer_kpi_name",
            "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, weight) "
            "SELECT customer_id, kpi_name, weight FROM kpi_reference_ranges "
            "WHERE customer_id = 1 LIMIT 1",
        )
        broken = run_all(url)
    finally:
        dbs.drop_all()
    assert [r.exit_code for r in sound] == [0, 0, 0]
    assert [r.exit_code for r in broken] == [1, 1, 1]
    assert json.loads(sound[1].stdout) == {
        "measured": 10,
        "customers": 25,
        "loop_seconds": pytest.approx(0.0, abs=60),
    }


def test_ratios_read_the_right_way_round() -> None:
    slower = report.Result("s", "-", median=3.0, baseline=2.0, rss_mb=50, target="<= 1.5x")
    assert slower.ratio == 1.5 and slower.met
    faster = report.Result("s", "-", median=1.0, baseline=30.0, rss_mb=50, target=">= 25x faster")
    assert faster.ratio == 30.0 and faster.met
    assert not report.Result("s", "-", 2.0, 30.0, 50, ">= 25x faster").met
    killed = report.Result("s", "-", 3.0, 2.0, 50, "<= 2x", timed_out=True)
    assert not killed.met
    assert ">1.50x" in report.report([killed])
    assert "30.0x faster" in report.report([faster])


def test_budget_allows_a_multiple_of_the_target() -> None:
    budget = harness.Budget(factor=10, floor=15)
    assert budget.timeout(4.0, "<= 2.5x") == 100.0
    assert budget.timeout(50.0, ">= 25x faster") == 20.0
    assert budget.timeout(0.1, "<= 2x") == 15.0


def test_peak_rss_is_the_commands_own_not_its_parents() -> None:
    """A child forked from a large parent (this pytest process, made larger here) is
    charged the parent's peak at exec; the launcher keeps that out of the figures."""
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page
    small = harness.timed([sys.executable, "-c", "pass"])
    large = harness.timed([sys.executable, "-c", "b = bytearray(150 * 2**20)"])
    assert small.rss_mb < 60, small
    assert 150 < large.rss_mb < 250, large
    del ballast


def test_a_run_over_its_timeout_is_killed_and_marked() -> None:
    run = harness.timed([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert run.timed_out
    assert 0.5 <= run.seconds < 10
    assert not math.isnan(run.rss_mb)


def test_the_kpis_are_those_of_the_catalog(tmp_path: Path) -> None:
    """The benchmark keeps no KPI list of its own: ranges/kpis.yaml is its catalog."""
    shipped = REPO / "ranges" / "kpis.yaml"
    catalog = yaml.safe_load(shipped.read_text(encoding="utf-8"))["kpis"]
    assert shipped == data.CATALOG
    assert {name: (s["unit"], s["better"]) for name, s in catalog.items()} == data.KPIS
    ranges = data.write_ranges(tmp_path, 2)
    assert (ranges / "kpis.yaml").read_bytes() == shipped.read_bytes()
    for path in [ranges / "defaults.yaml", *sorted((ranges / "customers").glob("*.yaml"))]:
        assert list(yaml.safe_load(path.read_text())["ranges"]) == list(catalog), path
    result = CliRunner().invoke(app, ["validate", "--strict", str(ranges)], env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output

    other = tmp_path / "kpis.yaml"
    other.write_text(
        shipped.read_text(encoding="utf-8")
        + "  logins_7d:\n    unit: count\n    better: higher\n    description: Logins\n"
    )
    assert list(data.read_catalog(other))[-1] == "logins_7d"
    assert data.read_catalog(other)["logins_7d"] == ("count", "higher")
