"""Classification of a value into the bands of a KPI's reference ranges. Pure: no I/O.

A band is ``[min, max)``: a value equal to a band's max lies in the next band up. A
value that no band holds (a gap between bands, or past an open end that no band
covers) has status ``unknown``.

There is one classifier, :func:`classify`, on a range compiled to floats
(:data:`CompiledRange`): ``score SLUG`` (through :func:`band_of`) and the fast path of
``score --all`` both call it, so they cannot disagree on a status.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from kpictl.rangefiles.model import Band, KpiRange

Status = Literal["healthy", "risk", "critical", "unknown"]

BAND_STATUSES: tuple[Status, ...] = ("critical", "risk", "healthy")
"""The statuses a band gives, in the order they are tried: if hand-edited rows ever
overlapped, the worse status would win."""

SEVERITY: dict[str, int] = {"critical": 0, "risk": 1, "unknown": 2, "healthy": 3}
"""Lower is worse: the order of alerts and of "worst first"."""

CompiledRange = tuple[float, float, float, float, float, float, float]
"""A KPI's range as :func:`classify` reads it: (weight, critical_min, critical_max,
risk_min, risk_max, healthy_min, healthy_max), a missing bound as -inf/inf and a
missing band as (nan, nan), so that ``min <= value < max`` is ``Band.contains`` for a
finite value, and is false for a band that is not there."""

_NO_BAND = (math.nan, math.nan)


def classify(value: float, compiled: Sequence[float]) -> Status | None:
    """The status of the band of ``compiled`` holding ``value``, a finite number (the
    callers leave the others out: -inf would be in an open-ended lowest band); None
    when no band holds it (a gap)."""
    _weight, c_min, c_max, r_min, r_max, h_min, h_max = compiled
    if c_min <= value < c_max:
        return "critical"
    if r_min <= value < r_max:
        return "risk"
    if h_min <= value < h_max:
        return "healthy"
    return None


def band_of(value: float, kpi_range: KpiRange) -> tuple[Status, Band] | None:
    """The status and band that hold ``value``, or None (a gap, or not a finite number)."""
    if value - value != 0.0:  # nan or ±inf
        return None
    status = classify(value, compile_range(kpi_range))
    if status is None:
        return None
    band = kpi_range.band(status)
    assert band is not None  # classify found it
    return status, band


def is_alert(status: str) -> bool:
    """Statuses that call for action: risk and critical."""
    return status in ("risk", "critical")


def compile_range(kpi_range: KpiRange) -> CompiledRange:
    """A range, ready for :func:`classify`."""
    out = [kpi_range.weight]
    for status in BAND_STATUSES:
        band = kpi_range.band(status)
        if band is None:
            out += _NO_BAND
        else:
            out.append(-math.inf if band.min is None else band.min)
            out.append(math.inf if band.max is None else band.max)
    return tuple(out)  # type: ignore[return-value]


def compile_row(
    critical_min: float | None,
    critical_max: float | None,
    risk_min: float | None,
    risk_max: float | None,
    healthy_min: float | None,
    healthy_max: float | None,
    weight: float | None,
) -> CompiledRange:
    """:func:`compile_range` of ``KpiRange.from_row`` of these columns, without making
    the range (``score --all`` on SQLite; on PostgreSQL the query does it:
    ``kpictl.scoring.inputs.compiled_sql``, pinned to this by a test)."""
    out = [1.0 if weight is None else float(weight)]
    for low, high in (
        (critical_min, critical_max),
        (risk_min, risk_max),
        (healthy_min, healthy_max),
    ):
        if low is None and high is None:
            out += _NO_BAND
        else:
            out.append(-math.inf if low is None else float(low))
            out.append(math.inf if high is None else float(high))
    return tuple(out)  # type: ignore[return-value]


def range_of(kpi_name: str, compiled: Sequence[float]) -> KpiRange:
    """The range a compiled one was made from (for :func:`kpictl.scoring.score`): the
    same bands and weight, so the same statuses."""
    bands: dict[str, Band | None] = {}
    for i, status in enumerate(BAND_STATUSES):
        low, high = compiled[1 + 2 * i], compiled[2 + 2 * i]
        if math.isnan(low) and math.isnan(high):
            bands[status] = None
        else:
            bands[status] = Band(
                None if low == -math.inf else low, None if high == math.inf else high
            )
    return KpiRange(kpi_name=kpi_name, weight=compiled[0], **bands)  # type: ignore[arg-type]
