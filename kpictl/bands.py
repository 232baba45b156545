"""Classification of a value into the bands of a KPI's reference ranges. Pure: no I/O.

A band is ``[min, max)``: a value equal to a band's max lies in the next band up. A
value that no band holds (a gap between bands, or past an open end that no band
covers) has status ``unknown``.
"""

from __future__ import annotations

import math
from typing import Literal

from kpictl.rangefiles.model import Band, KpiRange

Status = Literal["healthy", "risk", "critical", "unknown"]

BAND_STATUSES: tuple[Status, ...] = ("critical", "risk", "healthy")
"""The statuses a band gives, in the order they are tried: if hand-edited rows ever
overlapped, the worse status would win."""

SEVERITY: dict[str, int] = {"critical": 0, "risk": 1, "unknown": 2, "healthy": 3}
"""Lower is worse: the order of alerts and of "worst first"."""


def band_of(value: float, kpi_range: KpiRange) -> tuple[Status, Band] | None:
    """The status and band that hold ``value``, or None (a gap, or not a finite number)."""
    if not math.isfinite(value):
        return None
    for status in BAND_STATUSES:
        band = kpi_range.band(status)
        if band is not None and band.contains(value):
            return status, band
    return None


def status_of(value: float, kpi_range: KpiRange) -> Status:
    """``healthy``, ``risk`` or ``critical`` by the band holding ``value``; else ``unknown``."""
    found = band_of(value, kpi_range)
    return found[0] if found else "unknown"


def is_alert(status: str) -> bool:
    """Statuses that call for action: risk and critical."""
    return status in ("risk", "critical")
