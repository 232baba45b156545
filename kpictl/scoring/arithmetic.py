"""The arithmetic of a health score (SPEC section 4), written once. Pure: no I/O.

``score SLUG`` (:func:`kpictl.scoring.score`, with its explanation) and the fast path
of ``score --all`` (:func:`kpictl.scoring.summarize`) both reach their score through
:func:`weighted_mean` or :func:`regression`, and their status through
:func:`score_status`: the same floats in the same order, so the same score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from kpictl.rangefiles.model import Scoring
from kpictl.scoring.bands import Status, classify

HEALTH_SCORE = "health_score"
DEFAULT_POINTS: dict[str, float] = {"healthy": 100.0, "risk": 50.0, "critical": 0.0}
DEFAULT_CLAMP: tuple[float, float] = (0.0, 100.0)
HEALTHY_FROM = 70.0
RISK_FROM = 40.0

RANGES_MODEL = Scoring(model="ranges")
"""The model of a customer when neither its file nor the defaults set one."""

INSUFFICIENT = "insufficient_data"
"""The overall status of a score whose coverage is under the model's min_coverage."""

DIGITS = 6
"""Scores and terms are rounded to this many decimals: 52.14 + 0.416 × -14.2 is
46.2328, not 46.232800000000005."""


def points_of(model: Scoring) -> dict[str, float]:
    """The points of each status under a ranges model (the defaults, overridden by the
    model's ``points``)."""
    return {k: v or 0.0 for k, v in {**DEFAULT_POINTS, **(model.points or {})}.items()}


class Mean(NamedTuple):
    """A ranges-model score: ``weighted_sum / total_weight``, rounded."""

    score: float
    weighted_sum: float
    total_weight: float
    weight_scale: float = 1.0
    """The weights were divided by this before summing (1: as they are)."""


def weighted_mean(weights: Sequence[float], points: Sequence[float]) -> Mean | None:
    """Σ weight·points / Σ weight over the counted KPIs (in name order); None when Σ
    weight is not above 0."""
    total = sum(weights)
    if total <= 0:
        return None
    weighted = sum([w * p for w, p in zip(weights, points, strict=True)])
    return Mean(round(weighted / total, DIGITS), round(weighted, DIGITS), round(total, DIGITS))


class Regression(NamedTuple):
    """A regression-model score: ``raw`` clamped into ``clamp``."""

    score: float
    raw: float
    clamp: tuple[float, float]


def term(coefficient: float, value: float) -> float:
    """A KPI's term of the regression, rounded (inf or nan when it leaves a float)."""
    return round(coefficient * value, DIGITS) or 0.0


def regression(model: Scoring, terms: Sequence[float]) -> Regression | None:
    """intercept + Σ terms, clamped."""
    raw = round((model.intercept or 0.0) + sum(terms), DIGITS)
    low, high = model.clamp or DEFAULT_CLAMP
    return Regression(min(max(raw, low), high), raw, (low, high))


def score_status(score: float, health: Sequence[float] | None) -> Status:
    """The band of the (compiled) health_score range holding the score; without one,
    the thresholds."""
    if health is None:
        return threshold_status(score)
    return classify(score, health) or "unknown"


def threshold_status(value: float) -> Status:
    """healthy ≥ 70, risk ≥ 40, else critical: when no health_score range exists anywhere."""
    if value >= HEALTHY_FROM:
        return "healthy"
    if value >= RISK_FROM:
        return "risk"
    return "critical"


def coverage(known: Sequence[float], weights: Sequence[float]) -> float:
    """The share of the model's weight that had a value, 0 to 1 (SPEC section 7): Σ
    ``known`` (the weights of the KPIs with a value and a range) / Σ ``weights`` (of
    every KPI with a range but health_score), both in KPI name order. A model without
    weight is not short of anything: 1."""
    total = sum(weights)
    if not total > 0:
        return 1.0
    share = sum(known) / total
    if share != share:  # an infinite weight: in both sums
        return 1.0 if sum(known) == total else 0.0
    return round(min(max(share, 0.0), 1.0), DIGITS)


def judged(status: str, cover: float, min_coverage: float | None) -> str:
    """The overall status: ``status``, or ``insufficient_data`` when the coverage is
    under the model's ``min_coverage``."""
    if min_coverage is not None and cover < min_coverage:
        return INSUFFICIENT
    return status


def _finite(x: float) -> bool:
    return x - x == 0.0  # false for nan and ±inf; quicker than math.isfinite here
