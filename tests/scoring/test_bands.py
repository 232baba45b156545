"""Classification of a value into its band: [min, max), gaps, open ends."""

from __future__ import annotations

import math

import pytest

from kpictl.rangefiles.model import Band, KpiRange
from kpictl.scoring import band_of, is_alert


def status_of(value: float, kpi_range: KpiRange) -> str:
    """The status a value gets in a range: its band's, else unknown."""
    found = band_of(value, kpi_range)
    return found[0] if found else "unknown"


# daily_invocations of data-center: higher is better
DAILY = KpiRange(
    "daily_invocations",
    critical=Band(max=956),
    risk=Band(956, 2000),
    healthy=Band(min=2000),
)
# error_rate_pct of the defaults: lower is better
ERRORS = KpiRange("error_rate_pct", critical=Band(min=5), risk=Band(1, 5), healthy=Band(max=1))
# a gap between risk and healthy: [10, 20) is in no band
GAPPED = KpiRange("p95_latency_ms", critical=Band(max=0), risk=Band(0, 10), healthy=Band(min=20))


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (-1e9, "critical"),
        (955.999, "critical"),
        (956, "risk"),  # a band's max is exclusive: 956 is the next band's min
        (1999.5, "risk"),
        (2000, "healthy"),
        (1e12, "healthy"),
    ],
)
def test_higher_is_better_boundaries(value: float, status: str) -> None:
    assert status_of(value, DAILY) == status


@pytest.mark.parametrize(
    ("value", "status"),
    [(0, "healthy"), (0.999, "healthy"), (1, "risk"), (4.99, "risk"), (5, "critical")],
)
def test_lower_is_better_boundaries(value: float, status: str) -> None:
    assert status_of(value, ERRORS) == status


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (-0.1, "critical"),
        (0, "risk"),
        (9.99, "risk"),
        (10, "unknown"),
        (19.99, "unknown"),
        (20, "healthy"),
    ],
)
def test_a_value_in_a_gap_is_unknown(value: float, status: str) -> None:
    assert status_of(value, GAPPED) == status


def test_band_of_returns_the_band_that_holds_the_value() -> None:
    assert band_of(1500, DAILY) == ("risk", Band(956, 2000))
    assert band_of(15, GAPPED) is None


def test_a_range_with_only_some_bands() -> None:
    only_healthy = KpiRange("monthly_spend", healthy=Band(min=100))
    assert status_of(100, only_healthy) == "healthy"
    assert status_of(99, only_healthy) == "unknown"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_unknown(value: float) -> None:
    assert status_of(value, DAILY) == "unknown"


def test_risk_and_critical_are_alerts() -> None:
    assert [s for s in ("healthy", "risk", "critical", "unknown") if is_alert(s)] == [
        "risk",
        "critical",
    ]
