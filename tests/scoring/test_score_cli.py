"""kpictl score, on SQLite and PostgreSQL: one customer, every customer, saving, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "observations.csv"


def query(db_url: str, sql: str) -> list[tuple]:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


@pytest.fixture
def loaded(kpictl):
    """Ranges seeded and the shipped sample observations imported."""
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    return kpictl


def card(kpictl, *args: str, expect: int = 0) -> dict:
    return json.loads(kpictl("score", *args, "-o", "json", expect=expect).stdout)


def values_of(data: dict) -> dict[str, float]:
    return {k["kpi_name"]: k["value"] for k in data["kpis"]}


# -- one customer --------------------------------------------------------------------


def test_data_center_is_scored_by_its_regression_model(loaded) -> None:
    data = card(loaded, "data-center")
    assert data["model"] == "regression"
    assert data["score"] == pytest.approx(52.14 + 0.416 * -18.5)  # 44.444
    assert data["status"] == "risk"  # the health_score band [40, 70)
    assert values_of(data)["invocation_velocity_change_pct"] == -18.5
    velocity = next(k for k in data["kpis"] if k["kpi_name"] == "invocation_velocity_change_pct")
    assert velocity["status"] == "critical" and velocity["source"] == "customer"
    assert {a["kpi_name"]: a["playbook"] for a in data["alerts"]}[
        "invocation_velocity_change_pct"
    ] == "usage-drop"
    assert data["previous"] is None and data["change"] is None


@pytest.mark.parametrize(
    ("at", "velocity"),
    [
        ("2026-11-26T12:00:00Z", -12.4),  # between the 26th and the 27th: the 26th's
        ("2026-11-26T06:00:00", -12.4),  # exactly at an observation (no zone: UTC)
        ("2026-11-26T05:59:59Z", -7.8),  # a second before it: the 25th's
        ("2026-11-26T07:59:59+02:00", -7.8),  # the same instant with an offset
        ("2030-01-01", -18.5),
    ],
)
def test_score_at_a_time_picks_the_latest_earlier_observation(loaded, at, velocity) -> None:
    data = card(loaded, "data-center", "--at", at)
    assert values_of(data)["invocation_velocity_change_pct"] == velocity
    assert data["score"] == pytest.approx(52.14 + 0.416 * velocity)


def test_acme_by_the_ranges_model(loaded) -> None:
    data = card(loaded, "acme")
    assert data["model"] == "ranges"
    # healthy: daily 2, velocity 2, days 2, p95 2, avg 1 → 9·100; risk: invocations_30d 1,
    # spend 1, error 3, cold start 1 → 6·50. (900 + 300) / 15 = 80.
    assert data["score"] == 80
    assert data["status"] == "healthy"
    by_kpi = {k["kpi_name"]: k for k in data["kpis"]}
    assert by_kpi["error_rate_pct"]["source"] == "customer"
    assert by_kpi["error_rate_pct"]["weight"] == 3
    assert by_kpi["cold_start_pct"]["source"] == "default"
    assert sorted(a["kpi_name"] for a in data["alerts"]) == [
        "cold_start_pct",
        "error_rate_pct",
        "invocations_30d",
        "monthly_spend",
    ]


def test_the_same_numbers_from_the_database_values_and_set(loaded, tmp_path) -> None:
    from_db = card(loaded, "acme")
    values = values_of(from_db)
    before = ("--at", "2026-11-01")  # no observations yet: every value comes from the input
    mapping = tmp_path / "acme.yaml"
    mapping.write_text(yaml.safe_dump(values))
    as_json = tmp_path / "acme.json"
    as_json.write_text(json.dumps(values))
    sets = [arg for k, v in values.items() for arg in ("--set", f"{k}={v}")]
    results = [
        card(loaded, "acme", *before, "--values", str(mapping)),
        card(loaded, "acme", *before, "--values", str(as_json)),
        card(loaded, "acme", "--at", "2026-11-27T12:00", "--values", str(SAMPLES)),
        card(loaded, "acme", *before, *sets),
    ]
    for result in results:
        assert (result["score"], result["status"]) == (from_db["score"], from_db["status"])
        assert values_of(result) == values
        assert result["alerts"] == from_db["alerts"]


def test_set_overrides_observations_and_values(loaded, tmp_path) -> None:
    mapping = tmp_path / "v.json"
    mapping.write_text('{"invocation_velocity_change_pct": 10}')
    data = card(
        loaded, "data-center", "--values", str(mapping), "--set", "invocation_velocity_change_pct=0"
    )
    assert data["score"] == pytest.approx(52.14)
    velocity = next(k for k in data["kpis"] if k["kpi_name"] == "invocation_velocity_change_pct")
    assert velocity["value_source"] == "set"
    assert card(loaded, "data-center", "--values", str(mapping))["score"] == pytest.approx(56.3)


def test_a_supplied_health_score_is_ignored(loaded) -> None:
    data = card(loaded, "acme", "--set", "health_score=3")
    assert data["score"] == 80
    assert data["skipped"][0]["kpi_name"] == "health_score"


def test_explain_shows_the_arithmetic(loaded) -> None:
    out = loaded("score", "data-center", "--explain").stdout
    assert "= 52.14 + 0.416 × (-18.5)" in out
    assert "= 52.14 + (-7.696) = 44.444" in out
    assert "clamp [0, 100]: unchanged" in out
    out = loaded("score", "acme", "--explain").stdout
    assert "score = Σ weight·points / Σ weight" in out
    assert "= 1200 / 15 = 80" in out


def test_the_table_shows_statuses_alerts_and_skipped(loaded) -> None:
    out = loaded("score", "globex", "--set", "p95_latency_ms=1500").stdout
    assert "globex  score 26.67  critical" in out
    assert "p95_latency_ms" in out and "≥ 1500" in out
    assert "playbook: reliability-review" in out
    assert "no previous saved score" in out


def test_missing_regression_input_is_exit_2_naming_the_kpi(loaded, db_url, db_snapshot) -> None:
    before = db_snapshot(db_url)
    result = loaded("score", "data-center", "--at", "2026-11-01", expect=2)
    assert result.stderr.startswith(
        "error: cannot score data-center at 2026-11-01T00:00:00Z: the regression model needs "
        "a value for invocation_velocity_change_pct"
    )
    assert "--set invocation_velocity_change_pct=VALUE" in result.stderr
    assert db_snapshot(db_url) == before


def test_no_scorable_kpi_is_exit_2(loaded) -> None:
    result = loaded("score", "acme", "--at", "2026-11-01", expect=2)
    assert "no scorable KPI (9 without a value)" in result.stderr


def test_bad_usage_is_exit_2(loaded, tmp_path) -> None:
    assert "unknown customer 'nobody'" in loaded("score", "nobody", expect=2).stderr
    assert "unknown KPI 'bogus'" in loaded("score", "acme", "--set", "bogus=1", expect=2).stderr
    assert "not a number" in loaded("score", "acme", "--set", "error_rate_pct=x", expect=2).stderr
    assert "KPI=VALUE" in loaded("score", "acme", "--set", "error_rate_pct", expect=2).stderr
    assert "--at" in loaded("score", "acme", "--at", "soon", expect=2).stderr
    assert "name one customer" in loaded("score", expect=2).stderr
    assert "name one customer" in loaded("score", "acme", "--all", expect=2).stderr
    assert "go with --all" in loaded("score", "acme", "--save", expect=2).stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("error_rate_pct: high\n")
    assert "must be a number" in loaded("score", "acme", "--values", str(bad), expect=2).stderr
    dup = tmp_path / "dup.yaml"
    dup.write_text("error_rate_pct: 1\nerror_rate_pct: 2\n")
    assert "dup.yaml:2" in loaded("score", "acme", "--values", str(dup), expect=2).stderr


def test_the_score_needs_no_range_files(loaded, ranges_dir) -> None:
    at = ("--at", "2026-11-28")
    expected = card(loaded, "data-center", *at)
    shutil.rmtree(ranges_dir)  # the model and ranges come from the database alone
    assert card(loaded, "data-center", *at) == expected
    assert card(loaded, "--all")[1]["score"] == expected["score"]
    # without a catalog, KPI names are checked against the stored ranges
    assert card(loaded, "acme", "--set", "error_rate_pct=0.1")["score"] == 90
    assert "unknown KPI" in loaded("score", "acme", "--set", "bogus=1", expect=2).stderr


# -- every customer ------------------------------------------------------------------


def test_score_all_is_worst_first_and_lists_the_unscorable(loaded) -> None:
    loaded("customers", "add", "initech", "--name", "Initech")
    rows = card(loaded, "--all")
    assert [(r["customer"], r["status"]) for r in rows] == [
        ("globex", "critical"),
        ("data-center", "risk"),
        ("acme", "healthy"),
        ("initech", None),
    ]
    assert rows[0]["score"] == pytest.approx(400 / 15, abs=1e-6)
    assert rows[3]["score"] is None
    assert rows[3]["reason"].startswith("no scorable KPI")
    assert {"customer", "model", "score", "status"} <= set(rows[0])


def test_all_save_writes_one_row_per_scored_customer(loaded, db_url) -> None:
    loaded("customers", "add", "initech", "--name", "Initech")
    result = loaded("score", "--all", "--save", "--at", "2026-11-26T12:00:00Z")
    assert "saved 3 score(s) to health_scores" in result.stderr
    assert "1 customer(s) could not be scored: initech" in result.stderr
    rows = query(
        db_url,
        "SELECT c.slug, h.model, h.score, h.status FROM health_scores h "
        "JOIN customers c USING (customer_id) ORDER BY c.slug",
    )
    assert [(slug, model, status) for slug, model, _score, status in rows] == [
        ("acme", "ranges", "healthy"),
        ("data-center", "regression", "risk"),
        ("globex", "ranges", "critical"),
    ]
    assert rows[1][2] == pytest.approx(52.14 + 0.416 * -12.4)
    # the trend: today's score against the one saved for the 26th
    today = card(loaded, "data-center")
    assert today["previous"]["score"] == pytest.approx(46.9816)
    assert today["previous"]["computed_at"] == "2026-11-26T12:00:00Z"
    assert today["change"] == pytest.approx(44.444 - 46.9816)
    table = loaded("score", "data-center").stdout
    assert "previous 46.98 (risk) saved 2026-11-26T12:00:00Z; change -2.54" in table
    # a score before the saved one has no previous score
    assert card(loaded, "data-center", "--at", "2026-11-25T12:00")["previous"] is None


@pytest.mark.parametrize(
    ("threshold", "code"), [("20", 0), ("26.6", 0), ("26.7", 1), ("45", 1), ("90", 1)]
)
def test_fail_under(loaded, threshold: str, code: int) -> None:
    result = loaded("score", "--all", "--fail-under", threshold, expect=code)
    if code:
        assert "score under" in result.stderr and "globex (26.67)" in result.stderr


def test_fail_under_ignores_customers_without_a_score(loaded) -> None:
    loaded("customers", "add", "initech", "--name", "Initech")
    loaded("score", "--all", "--fail-under", "20")


def test_fail_under_with_save_still_saves(loaded, db_url) -> None:
    loaded("score", "--all", "--save", "--fail-under", "50", expect=1)
    assert query(db_url, "SELECT count(*) FROM health_scores") == [(3,)]


def test_score_all_on_an_empty_database(kpictl) -> None:
    kpictl("init")  # a read creates no database (SPEC section 7)
    assert card(kpictl, "--all") == []
