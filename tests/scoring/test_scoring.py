"""The scoring core with hand-computed expectations: ranges and regression models."""

from __future__ import annotations

import pytest

from kpictl.errors import EXIT_USAGE, MissingValues
from kpictl.rangefiles.model import Band, KpiRange, Scoring
from kpictl.scoring import InputValue, overall_status, score, threshold_status


def higher(name: str, low: float, high: float, *, weight: float = 1, playbook: str | None = None):
    """critical < low <= risk < high <= healthy."""
    return KpiRange(
        name,
        critical=Band(max=low),
        risk=Band(low, high),
        healthy=Band(min=high),
        weight=weight,
        playbook=playbook,
    )


def lower(name: str, low: float, high: float, *, weight: float = 1, playbook: str | None = None):
    """healthy < low <= risk < high <= critical."""
    return KpiRange(
        name,
        healthy=Band(max=low),
        risk=Band(low, high),
        critical=Band(min=high),
        weight=weight,
        playbook=playbook,
    )


HEALTH = higher("health_score", 40, 70)
RANGES = {
    "daily_invocations": higher("daily_invocations", 500, 2000, weight=2, playbook="usage-drop"),
    "error_rate_pct": lower("error_rate_pct", 1, 5, weight=3, playbook="reliability-review"),
    "p95_latency_ms": KpiRange(  # a gap: [500, 800) is in no band
        "p95_latency_ms",
        healthy=Band(max=500),
        risk=Band(800, 1500),
        critical=Band(min=1500),
        playbook="latency-review",
    ),
}
DATA_CENTER = Scoring(
    model="regression", intercept=52.14, coefficients={"invocation_velocity_change_pct": 0.416}
)


# -- ranges model --------------------------------------------------------------------


def test_weighted_mean_of_points_with_boundary_values() -> None:
    # 2000 is risk's max, so healthy (100 points, weight 2); 1 is healthy's max, so risk
    # (50 points, weight 3): (2·100 + 3·50) / (2 + 3) = 350 / 5 = 70.
    card = score("acme", {"daily_invocations": 2000, "error_rate_pct": 1}, RANGES)
    assert card.model == "ranges"
    assert card.score == 70
    assert card.weighted_sum == 350 and card.total_weight == 5
    assert {k.kpi_name: (k.status, k.points) for k in card.kpis} == {
        "daily_invocations": ("healthy", 100),
        "error_rate_pct": ("risk", 50),
    }
    assert card.status == "healthy"  # no health_score range: healthy >= 70


def test_weights_change_the_score() -> None:
    values = {"daily_invocations": 100, "error_rate_pct": 0.5}  # critical (0), healthy (100)
    assert score("x", values, RANGES).score == 60  # (2·0 + 3·100) / 5
    heavier = {**RANGES, "daily_invocations": higher("daily_invocations", 500, 2000, weight=8)}
    assert score("x", values, heavier).score == pytest.approx(300 / 11, abs=1e-6)


def test_a_weight_of_zero_counts_nothing() -> None:
    ranges = {**RANGES, "error_rate_pct": lower("error_rate_pct", 1, 5, weight=0)}
    card = score("x", {"daily_invocations": 100, "error_rate_pct": 0.5}, ranges)
    assert card.score == 0


def test_custom_points() -> None:
    model = Scoring(model="ranges", points={"healthy": 10, "risk": 5, "critical": 1})
    card = score("x", {"daily_invocations": 3000, "error_rate_pct": 2}, RANGES, model)
    assert card.score == 7  # (2·10 + 3·5) / 5


def test_a_value_in_a_gap_is_unknown_and_skipped() -> None:
    card = score("x", {"daily_invocations": 3000, "p95_latency_ms": 600}, RANGES)
    assert card.score == 100  # only daily_invocations counts
    p95 = next(k for k in card.kpis if k.kpi_name == "p95_latency_ms")
    assert (p95.status, p95.points) == ("unknown", None)
    skipped = {s.kpi_name: s.reason for s in card.skipped}
    assert skipped["p95_latency_ms"] == "value 600 is in no band (a gap)"
    assert skipped["error_rate_pct"] == "no value"


def test_kpis_without_a_range_or_a_value_are_skipped_with_the_reason() -> None:
    card = score("x", {"daily_invocations": 700, "cold_start_pct": 3}, RANGES)
    assert {s.kpi_name: s.reason for s in card.skipped} == {
        "cold_start_pct": "no range",
        "error_rate_pct": "no value",
        "p95_latency_ms": "no value",
    }
    assert [k.kpi_name for k in card.kpis] == ["daily_invocations"]
    assert card.score == 50


def test_no_scorable_kpi_is_exit_2() -> None:
    with pytest.raises(MissingValues) as raised:
        score("x", {"p95_latency_ms": 600, "cold_start_pct": 1}, RANGES)
    assert raised.value.exit_code == EXIT_USAGE == 2
    assert raised.value.message == (
        "no scorable KPI (2 without a value, 1 without a range, 1 in a gap)"
    )


def test_only_zero_weights_is_no_scorable_kpi() -> None:
    ranges = {"error_rate_pct": lower("error_rate_pct", 1, 5, weight=0)}
    with pytest.raises(MissingValues, match="weight 0"):
        score("x", {"error_rate_pct": 0.5}, ranges)


def test_a_supplied_health_score_is_ignored() -> None:
    base = score("x", {"daily_invocations": 3000}, {**RANGES, "health_score": HEALTH})
    given = score(
        "x", {"daily_invocations": 3000, "health_score": 1}, {**RANGES, "health_score": HEALTH}
    )
    assert given.score == base.score == 100
    assert "health_score" not in [k.kpi_name for k in given.kpis]
    assert given.skipped[0].kpi_name == "health_score"
    assert "ignored" in given.skipped[0].reason
    with pytest.raises(MissingValues):
        score("x", {"health_score": 99}, {"health_score": HEALTH})


# -- overall status and alerts -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "status"),
    [(0, "critical"), (39.999, "critical"), (40, "risk"), (69.99, "risk"), (70, "healthy")],
)
def test_thresholds_without_a_health_score_range(value: float, status: str) -> None:
    assert threshold_status(value) == status
    assert overall_status(value, None) == status


def test_the_health_score_range_decides_the_status() -> None:
    strict = higher("health_score", 60, 90)
    values = {"daily_invocations": 3000, "error_rate_pct": 2}
    card = score("x", values, {**RANGES, "health_score": strict})
    assert card.score == 70  # healthy by the thresholds, risk by this range
    assert card.status == "risk"
    assert card.health_range == strict
    gapped = KpiRange("health_score", critical=Band(max=50), healthy=Band(min=80))
    assert overall_status(70, gapped) == "unknown"


def test_alerts_are_risk_and_critical_kpis_with_playbooks_worst_first() -> None:
    card = score(
        "x", {"daily_invocations": 100, "error_rate_pct": 2, "p95_latency_ms": 100}, RANGES
    )
    assert [(a.kpi_name, a.status, a.value, a.playbook) for a in card.alerts] == [
        ("daily_invocations", "critical", 100, "usage-drop"),
        ("error_rate_pct", "risk", 2, "reliability-review"),
    ]


# -- regression model ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("velocity", "raw", "expected"),
    [
        (-18.5, 44.444, 44.444),  # 52.14 + 0.416 × -18.5
        (0, 52.14, 52.14),
        (10, 56.3, 56.3),
        (150, 114.54, 100),  # clamped to the default max
        (-200, -31.06, 0),  # clamped to the default min
    ],
)
def test_data_center_regression_with_clamping(velocity: float, raw: float, expected: float):
    card = score(
        "data-center",
        {"invocation_velocity_change_pct": velocity},
        {"health_score": HEALTH},
        DATA_CENTER,
    )
    assert card.model == "regression"
    assert card.raw_score == pytest.approx(raw, abs=1e-9)
    assert card.score == pytest.approx(expected, abs=1e-9)
    assert card.clamp == (0, 100)
    term = card.kpis[0]
    assert (term.coefficient, term.term) == (0.416, pytest.approx(0.416 * velocity))


def test_a_custom_clamp() -> None:
    model = Scoring(
        model="regression",
        intercept=52.14,
        coefficients={"invocation_velocity_change_pct": 0.416},
        clamp=(10, 90),
    )
    assert score("dc", {"invocation_velocity_change_pct": -200}, {}, model).score == 10
    assert score("dc", {"invocation_velocity_change_pct": 150}, {}, model).score == 90


def test_regression_status_from_the_health_score_range() -> None:
    def status(velocity: float) -> str:
        ranges = {"health_score": HEALTH}
        values = {"invocation_velocity_change_pct": velocity}
        return score("dc", values, ranges, DATA_CENTER).status

    assert status(-18.5) == "risk"  # 44.444
    assert status(-30.625) == "critical"  # 52.14 - 12.74 = 39.4
    assert status(50) == "healthy"  # 72.94


def test_missing_regression_input_is_exit_2_naming_the_kpi() -> None:
    with pytest.raises(MissingValues) as raised:
        score("data-center", {"error_rate_pct": 1}, RANGES, DATA_CENTER)
    assert raised.value.exit_code == 2
    assert "invocation_velocity_change_pct" in raised.value.message
    assert "--set invocation_velocity_change_pct=VALUE" in (raised.value.hint or "")


def test_regression_still_computes_statuses_and_alerts() -> None:
    card = score(
        "dc",
        {"invocation_velocity_change_pct": -18.5, "daily_invocations": 100, "error_rate_pct": 0},
        {**RANGES, "invocation_velocity_change_pct": higher("velocity", -15, 0)},
        DATA_CENTER,
    )
    assert card.score == pytest.approx(44.444)
    statuses = {k.kpi_name: k.status for k in card.kpis}
    assert statuses == {
        "daily_invocations": "critical",
        "error_rate_pct": "healthy",
        "invocation_velocity_change_pct": "critical",
    }
    assert [a.kpi_name for a in card.alerts] == [
        "daily_invocations",
        "invocation_velocity_change_pct",
    ]
    assert all(k.points is None for k in card.kpis)
    assert [s.kpi_name for s in card.skipped] == ["p95_latency_ms"]


# -- the JSON shape of SPEC section 6 ------------------------------------------------


def test_score_card_has_the_spec_json_shape() -> None:
    card = score(
        "acme",
        {"daily_invocations": InputValue(100, "set"), "error_rate_pct": 2},
        RANGES,
        sources={"daily_invocations": "customer", "error_rate_pct": "default"},
    )
    data = card.as_dict()
    assert {"customer", "model", "score", "status", "kpis", "alerts", "skipped"} <= set(data)
    assert {"kpi_name", "value", "status", "weight", "points", "source"} <= set(data["kpis"][0])
    assert set(data["alerts"][0]) >= {"kpi_name", "status", "value", "playbook"}
    assert set(data["skipped"][0]) == {"kpi_name", "reason"}
    assert data["kpis"][0]["source"] == "customer"
    assert data["kpis"][0]["value_source"] == "set"
    assert "explain" not in data
    explained = card.as_dict(explain=True)["explain"]
    assert explained["weighted_sum"] == 150 and explained["total_weight"] == 5
