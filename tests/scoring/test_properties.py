"""Properties of the ranges model, for any ranges, values, weights and points."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kpictl.errors import MissingValues
from kpictl.rangefiles.model import Band, KpiRange, Scoring
from kpictl.scoring import score

NAMES = [f"kpi_{i}" for i in range(6)]
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
# 0, or far enough from 0 that scaling cannot underflow it
weights = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e3))
point_values = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


@st.composite
def kpi_range(draw: st.DrawFn, name: str) -> KpiRange:
    """Three bands in either direction, sometimes with a gap between two of them."""
    low, mid, high = sorted(draw(st.lists(finite, min_size=3, max_size=3, unique=True)))
    gap = draw(st.booleans())
    bands = [Band(max=low), Band(low, mid), Band(high if gap else mid, None)]
    order = ["critical", "risk", "healthy"]
    if draw(st.booleans()):
        order.reverse()  # lower is better
    return KpiRange(name, **dict(zip(order, bands, strict=True)), weight=draw(weights))


@st.composite
def scenario(draw: st.DrawFn):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    ranges = {n: draw(kpi_range(n)) for n in names}
    valued = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    values = {n: draw(finite) for n in valued}
    points = {
        "healthy": draw(point_values),
        "risk": draw(point_values),
        "critical": draw(point_values),
    }
    return values, ranges, Scoring(model="ranges", points=points)


@given(scenario())
def test_the_score_lies_between_the_lowest_and_highest_points(case) -> None:
    values, ranges, model = case
    try:
        card = score("x", values, ranges, model)
    except MissingValues:
        assume(False)
        return
    points = model.points or {}
    used = [points[k.status] for k in card.kpis if k.points is not None]
    assert used, "a score without a counted KPI"
    tolerance = 1e-6 * max(1.0, *(abs(p) for p in points.values()))
    assert min(points.values()) - tolerance <= card.score <= max(points.values()) + tolerance
    assert min(used) - tolerance <= card.score <= max(used) + tolerance


@given(scenario(), st.floats(min_value=1e-3, max_value=1e3))
def test_scaling_every_weight_by_a_constant_changes_nothing(case, factor: float) -> None:
    values, ranges, model = case
    scaled = {
        name: KpiRange(
            name,
            critical=r.critical,
            risk=r.risk,
            healthy=r.healthy,
            weight=r.weight * factor,
            playbook=r.playbook,
        )
        for name, r in ranges.items()
    }
    try:
        card = score("x", values, ranges, model)
    except MissingValues:
        with pytest.raises(MissingValues):
            score("x", values, scaled, model)
        return
    rescored = score("x", values, scaled, model)
    assert rescored.score == pytest.approx(card.score, rel=1e-9, abs=1e-5)
    assert [k.status for k in rescored.kpis] == [k.status for k in card.kpis]
