"""Coverage (SPEC section 7): every score says which share of its model's weight had a
value; under the model's ``min_coverage`` (ranges/defaults.yaml ships 0.5) the status
is insufficient_data in every output, and ``score --all --fail-under`` fails on it
unless ``--allow-insufficient``. On SQLite and PostgreSQL, through the real CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "observations.csv"
HOOLI = ("--set", "monthly_spend=3200", "--set", "error_rate_pct=0.1")
# the shipped defaults: nine KPIs with a range but health_score, of weight 15 in all;
# error_rate_pct weighs 3 and monthly_spend 1
HOOLI_COVERAGE = 4 / 15


def query(db_url: str, sql: str) -> list[tuple]:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


@pytest.fixture
def platform(kpictl):
    """The shipped ranges seeded, the sample observations imported, and hooli: a
    customer with only monthly_spend and error_rate_pct observed."""
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    kpictl("customers", "add", "hooli", "--name", "Hooli")
    rows = "customer,kpi_name,value,observed_at\n"
    rows += "hooli,monthly_spend,3200,2026-11-20T00:00:00Z\n"
    rows += "hooli,error_rate_pct,0.1,2026-11-20T00:00:00Z\n"
    kpictl("observations", "import", "-", input=rows)
    return kpictl


def test_two_kpis_of_nine_are_insufficient_data_not_healthy(platform) -> None:
    data = json.loads(platform("score", "hooli", *HOOLI, "-o", "json").stdout)
    assert data["score"] == 100  # the score is still shown
    assert data["status"] == "insufficient_data"
    assert data["coverage"] == pytest.approx(HOOLI_COVERAGE, abs=1e-6)
    assert data["min_coverage"] == 0.5

    table = platform("score", "hooli", *HOOLI).stdout
    assert "insufficient_data" in table and "coverage 26.66%" in table
    assert "healthy  (" not in table.splitlines()[0]

    rows = list(csv.DictReader(io.StringIO(platform("score", "hooli", *HOOLI, "-o", "csv").stdout)))
    assert {r["status"] for r in rows} == {"insufficient_data"}  # status: the customer's
    assert {round(float(r["coverage"]), 6) for r in rows} == {0.266667}

    explained = platform("score", "hooli", *HOOLI, "--explain", "-o", "json").stdout
    explain = json.loads(explained)["explain"]
    assert explain["status_by_score"] == "healthy"
    assert explain["coverage"] == data["coverage"]


def test_a_customer_with_every_value_keeps_its_status_with_coverage_1(platform) -> None:
    acme = json.loads(platform("score", "acme", "-o", "json").stdout)
    assert (acme["coverage"], acme["status"]) == (1, "healthy")
    data_center = json.loads(platform("score", "data-center", "-o", "json").stdout)
    assert (data_center["model"], data_center["coverage"]) == ("regression", 1)
    assert data_center["status"] == "risk"


def test_score_all_shows_coverage_in_every_output(platform) -> None:
    listed = json.loads(platform("score", "--all", "-o", "json").stdout)
    by_customer = {s["customer"]: s for s in listed}
    assert by_customer["hooli"]["status"] == "insufficient_data"
    assert by_customer["hooli"]["coverage"] == pytest.approx(HOOLI_COVERAGE, abs=1e-6)
    assert by_customer["acme"]["coverage"] == 1
    rows = list(csv.DictReader(io.StringIO(platform("score", "--all", "-o", "csv").stdout)))
    assert {r["customer"]: r["status"] for r in rows}["hooli"] == "insufficient_data"
    assert {r["customer"]: r["coverage"] for r in rows}["hooli"] == "0.266667"
    table = platform("score", "--all").stdout
    hooli = next(line for line in table.splitlines() if line.startswith("hooli"))
    assert "insufficient_data" in hooli and "26.66%" in hooli
    assert "coverage" in table.splitlines()[1]


def test_fail_under_fails_on_insufficient_data_unless_allowed(platform) -> None:
    result = platform("score", "--all", "--fail-under", "10", expect=1)
    assert "insufficient data" in result.output and "hooli" in result.output
    platform("score", "--all", "--fail-under", "10", "--allow-insufficient", expect=0)
    # a score under the threshold still fails with --allow-insufficient
    result = platform("score", "--all", "--fail-under", "30", "--allow-insufficient", expect=1)
    assert "globex" in result.stderr and "hooli" not in result.stderr
    result = platform("score", "--all", "--allow-insufficient", expect=2)
    assert "--allow-insufficient goes with --fail-under" in result.output


def test_saved_scores_store_their_coverage(platform, db_url) -> None:
    platform("score", "--all", "--save", "--at", "2026-11-28T00:00:00Z")
    saved = dict(
        query(
            db_url,
            "SELECT c.slug, s.coverage FROM health_scores s JOIN customers c USING (customer_id)",
        )
    )
    assert saved["acme"] == 1.0 and saved["hooli"] == pytest.approx(HOOLI_COVERAGE, abs=1e-6)
    status = query(db_url, "SELECT status FROM health_scores WHERE coverage < 0.5")
    assert status == [("insufficient_data",)]
    data = json.loads(platform("score", "hooli", "-o", "json").stdout)
    assert data["previous"]["coverage"] == pytest.approx(HOOLI_COVERAGE, abs=1e-6)
    assert data["previous"]["status"] == "insufficient_data"


def test_a_customer_file_sets_its_own_min_coverage_else_inherits_the_defaults(
    platform, ranges_dir: Path
) -> None:
    own = ranges_dir / "customers" / "hooli.yaml"
    own.write_text(
        "apiVersion: kpictl/v1\ncustomer: hooli\nversion: 1\n"
        "scoring: {model: ranges, points: {healthy: 90, risk: 50, critical: 0}}\nranges: {}\n"
    )
    platform("seed", "--customer", "hooli")
    data = json.loads(platform("score", "hooli", "-o", "json").stdout)
    assert (data["score"], data["status"], data["min_coverage"]) == (90, "insufficient_data", 0.5)
    own.write_text(
        "apiVersion: kpictl/v1\ncustomer: hooli\nversion: 2\n"
        "scoring: {model: ranges, min_coverage: 0.25}\nranges: {}\n"
    )
    platform("seed", "--customer", "hooli")
    data = json.loads(platform("score", "hooli", "-o", "json").stdout)
    assert (data["score"], data["status"], data["min_coverage"]) == (100, "healthy", 0.25)
    listed = json.loads(platform("score", "--all", "-o", "json").stdout)
    assert {s["customer"]: s["status"] for s in listed}["hooli"] == "healthy"
    exported = platform("export", "--customer", "hooli").stdout
    assert "min_coverage: 0.25" in exported
    platform("diff", "--customer", "hooli", expect=0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.5", "scoring.min_coverage: must be between 0 and 1, got 1.5"),
        ("-0.1", "scoring.min_coverage: must be between 0 and 1, got -0.1"),
        ("half", "scoring.min_coverage"),
        ("true", "scoring.min_coverage"),
    ],
)
def test_min_coverage_must_be_a_share(kpictl, ranges_dir: Path, value: str, message: str) -> None:
    defaults = ranges_dir / "defaults.yaml"
    text_ = defaults.read_text().replace("min_coverage: 0.5", f"min_coverage: {value}")
    assert text_ != defaults.read_text()
    defaults.write_text(text_)
    result = kpictl("validate", expect=1)
    assert message in result.output
    assert "defaults.yaml:" in result.output


def test_the_json_schema_knows_min_coverage() -> None:
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "schemas" / "defaults.schema.json").read_text()
    )
    for model in ("rangesModel", "regressionModel"):
        prop = schema["definitions"][model]["properties"]["min_coverage"]
        assert (prop["type"], prop["minimum"], prop["maximum"]) == ("number", 0, 1)
