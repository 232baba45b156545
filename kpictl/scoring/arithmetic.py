"""The arithmetic of a health score (SPEC section 4), written once. Pure: no I/O.

Every score these give is a finite number, or None: a customer whose numbers leave
the range of a float is refused with a reason, never scored NaN or infinity.

``score SLUG`` (:func:`kpictl.scoring.score`, with its explanation) and the fast path
of ``score --all`` (:func:`kpictl.scoring.summarize`) both reach their score through
:func:`weighted_mean` or :func:`regression`, and their status through
:func:`score_status`: the same floats in the same order, so the same score.
"""

from __future__ import annotations

import math
import operator
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
    """A ranges-model score: ``weighted_sum / total_weight``, rounded (the sums are
    not: rounding costs, and only the explanation shows them)."""

    score: float
    weighted_sum: float
    total_weight: float
    weight_scale: float = 1.0
    """The weights were divided by this before summing (1: as they are)."""


def weighted_mean(weights: Sequence[float], points: Sequence[float]) -> Mean | None:
    """Σ weight·points / Σ weight over the counted KPIs (in name order).

    None when Σ weight is not above 0, or the numbers leave the range of a float even
    scaled. When Σ weight·points or Σ weight overflows (a weight of 1e308), the
    weights are divided by the largest one and the points by theirs before summing:
    the mean is the same and its sums stay small. Only then: ordinary scores keep the
    floats of the plain formula."""
    total = sum(weights)
    if not total > 0:
        return None
    weighted = sum(map(operator.mul, weights, points))
    score = round(weighted / total, DIGITS)
    # finite (x - x is nan for nan and ±inf), checked inline: this runs per customer
    if score - score == 0.0 and weighted - weighted == 0.0 and total - total == 0.0:
        return Mean(score, weighted, total)
    return _scaled_mean(weights, points)


def _scaled_mean(weights: Sequence[float], points: Sequence[float]) -> Mean | None:
    """:func:`weighted_mean` of weights divided by the largest, points by theirs."""
    scale = max(abs(w) for w in weights)
    unit = max(abs(p) for p in points) or 1.0
    if not (_finite(scale) and _finite(unit)):
        return None
    weights = [w / scale for w in weights]
    total = sum(weights)
    if not total > 0:
        return None
    weighted = sum([w * (p / unit) for w, p in zip(weights, points, strict=True)])
    score = round(weighted / total * unit, DIGITS)
    weighted *= unit
    if not (_finite(score) and _finite(weighted)):
        return None
    return Mean(score, weighted, total, scale)


class Regression(NamedTuple):
    """A regression-model score: ``raw`` clamped into ``clamp``."""

    score: float
    raw: float
    clamp: tuple[float, float]


def term(coefficient: float, value: float) -> float:
    """A KPI's term of the regression, rounded (inf or nan when it leaves a float)."""
    return round(coefficient * value, DIGITS) or 0.0


def regression(model: Scoring, terms: Sequence[float]) -> Regression | None:
    """intercept + Σ terms, clamped. None when a term or the sum is not a finite number
    (a coefficient of 2 and a value of 1e308): a score kpictl cannot compute."""
    raw = round((model.intercept or 0.0) + sum(terms), DIGITS)
    if not _finite(raw):  # nan or inf: so is a term, or the sum left the range of a float
        return None
    low, high = model.clamp or DEFAULT_CLAMP
    return Regression(min(max(raw, low), high), raw, (low, high))


def score_status(score: float, health: Sequence[float] | None) -> Status:
    """The band of the (compiled) health_score range holding the score; without one,
    the thresholds."""
    if health is None:
        return threshold_status(score)
    if score - score != 0.0:  # nan or ±inf: in no band
        return "unknown"
    return classify(score, health) or "unknown"


def threshold_status(value: float) -> Status:
    """healthy ≥ 70, risk ≥ 40, else critical: when no health_score range exists anywhere."""
    if value >= HEALTHY_FROM:
        return "healthy"
    if value >= RISK_FROM:
        return "risk"
    return "critical"


def coverage(known: Sequence[float], model_weight: float) -> float:
    """The share of the model's weight that had a value, 0 to 1 (SPEC section 7): Σ
    ``known`` (the weights of the KPIs with a value and a range) / ``model_weight``
    (:func:`total_weight` of every KPI with a range but health_score). A model without
    weight is not short of anything: 1."""
    if not model_weight > 0:
        return 1.0
    have = total_weight(known)
    share = have / model_weight
    if share - share != 0.0:  # weights near the largest float: inf / inf
        return 1.0 if have >= model_weight else 0.0
    share = round(share, DIGITS)
    return 0.0 if share < 0.0 else 1.0 if share > 1.0 else share


def total_weight(weights: Sequence[float]) -> float:
    """Σ weights, exactly rounded (math.fsum), so in any order: the card and the board
    add the same weights in different orders and must agree to the last bit. inf when
    the sum leaves the range of a float, nan when a weight is nan."""
    try:
        return math.fsum(weights)
    except OverflowError:  # an intermediate sum overflowed: ±inf, by the largest weight
        return math.copysign(math.inf, max(weights, key=abs))
    except ValueError:  # inf + -inf
        return math.nan


def judged(status: str, cover: float, min_coverage: float | None) -> str:
    """The overall status: ``status``, or ``insufficient_data`` when the coverage is
    under the model's ``min_coverage``."""
    if min_coverage is not None and cover < min_coverage:
        return INSUFFICIENT
    return status


def _finite(x: float) -> bool:
    return x - x == 0.0  # false for nan and ±inf; quicker than math.isfinite here
