"""A customer's score card (SPEC section 4): the ranges and regression models. Pure: no I/O.

:func:`score` takes a customer's values, its effective ranges and its scoring model
and returns a :class:`ScoreCard`: the score, the overall status, every KPI's status,
the alerts and the KPIs left out with the reason. Where the values, ranges and model
come from (database, ``--values``, ``--set``) is the caller's business: the same
inputs give the same card.

A value for ``health_score`` is never an input: the score is computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kpictl.errors import InvalidInput, MissingValues
from kpictl.numbers import fmt_num
from kpictl.rangefiles.model import Band, KpiRange, Scoring
from kpictl.scoring.arithmetic import (
    DIGITS,
    HEALTH_SCORE,
    HEALTHY_FROM,
    RANGES_MODEL,
    RISK_FROM,
    coverage,
    judged,
    points_of,
    regression,
    score_status,
    term,
    total_weight,
    weighted_mean,
)
from kpictl.scoring.bands import SEVERITY, Status, classify, compile_range, is_alert
from kpictl.times import iso as iso  # re-exported: kpictl.scoring.iso
from kpictl.times import iso_or_none


@dataclass(frozen=True, slots=True)
class InputValue:
    """A KPI value and where it came from."""

    value: float
    source: str = "given"  # observation | values | set | given
    observed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KpiScore:
    """One KPI on the card: its value, band and status, and what it adds to the score."""

    kpi_name: str
    value: float
    status: Status
    band: Band | None  # the band holding the value
    weight: float | None  # of the range; None without a range
    source: str | None  # of the range: customer | default | file; None without a range
    playbook: str | None
    points: float | None = None  # ranges model: the status's points, when counted
    coefficient: float | None = None  # regression model
    term: float | None = None  # regression model: coefficient × value
    value_source: str = "given"
    observed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kpi_name": self.kpi_name,
            "value": self.value,
            "status": self.status,
            "weight": self.weight,
            "points": self.points,
            "source": self.source,
            "playbook": self.playbook,
            "value_source": self.value_source,
            "observed_at": _iso(self.observed_at),
        }
        if self.coefficient is not None:
            out["coefficient"] = self.coefficient
            out["term"] = self.term
        return out


@dataclass(frozen=True, slots=True)
class Alert:
    """A KPI in risk or critical, and the playbook to run."""

    kpi_name: str
    status: Status
    value: float
    playbook: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kpi_name": self.kpi_name,
            "status": self.status,
            "value": self.value,
            "playbook": self.playbook,
        }


@dataclass(frozen=True, slots=True)
class Skipped:
    """A KPI left out of the score, and why."""

    kpi_name: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"kpi_name": self.kpi_name, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class SavedScore:
    """A row of health_scores: a score saved by ``score --all --save``."""

    score: float
    status: str
    model: str
    computed_at: datetime
    coverage: float | None = None  # None: saved before coverage was recorded

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "status": self.status,
            "coverage": self.coverage,
            "model": self.model,
            "computed_at": _iso(self.computed_at),
        }


@dataclass(frozen=True, slots=True)
class ScoreCard:
    """A customer's health score, how it was reached, and what to do about it."""

    customer: str
    model: str  # ranges | regression
    score: float
    status: str  # the score's status, or insufficient_data (coverage under min_coverage)
    kpis: list[KpiScore]
    alerts: list[Alert]
    skipped: list[Skipped]
    # how the score was reached (--explain)
    raw_score: float  # before the clamp (regression); equal to score for ranges
    points: dict[str, float] | None = None  # ranges
    weighted_sum: float | None = None  # ranges: Σ weight·points
    total_weight: float | None = None  # ranges: Σ weight
    weight_scale: float = 1.0  # ranges: the sums are of the weights divided by this
    intercept: float | None = None  # regression
    clamp: tuple[float, float] | None = None  # regression
    health_range: KpiRange | None = None  # the range that gave the status; None: thresholds
    health_range_source: str | None = None
    coverage: float = 1.0  # the share of the model's weight that had a value
    min_coverage: float | None = None  # of the model: under it, insufficient_data
    status_by_score: Status | None = None  # the status the score alone gives
    # filled in by the caller
    at: datetime | None = None
    previous: SavedScore | None = None

    @property
    def change(self) -> float | None:
        """The score minus the previous saved score (the trend), when there is one."""
        if self.previous is None:
            return None
        return round(self.score - self.previous.score, DIGITS)

    def as_dict(self, *, explain: bool = False) -> dict[str, Any]:
        """The SPEC's ``score`` JSON shape (section 6), with a few more keys."""
        out: dict[str, Any] = {
            "customer": self.customer,
            "model": self.model,
            "score": self.score,
            "status": self.status,
            "coverage": self.coverage,
            "min_coverage": self.min_coverage,
            "kpis": [k.as_dict() for k in self.kpis],
            "alerts": [a.as_dict() for a in self.alerts],
            "skipped": [s.as_dict() for s in self.skipped],
            "at": _iso(self.at),
            "previous": self.previous.as_dict() if self.previous else None,
            "change": self.change,
        }
        if explain:
            out["explain"] = self.explanation()
        return out

    def explanation(self) -> dict[str, Any]:
        """The arithmetic, as data."""
        if self.model == "ranges":
            out: dict[str, Any] = {
                "formula": "sum(weight * points) / sum(weight)",
                "points": self.points,
                "terms": [
                    {"kpi_name": k.kpi_name, "weight": k.weight, "points": k.points}
                    for k in self.kpis
                    if k.points is not None
                ],
                "weighted_sum": self.weighted_sum,
                "total_weight": self.total_weight,
            }
            if self.weight_scale != 1.0:  # the weights overflowed a float when summed
                out["weights_divided_by"] = self.weight_scale
        else:
            out = {
                "formula": "clamp(intercept + sum(coefficient * value))",
                "intercept": self.intercept,
                "terms": [
                    {
                        "kpi_name": k.kpi_name,
                        "coefficient": k.coefficient,
                        "value": k.value,
                        "term": k.term,
                    }
                    for k in self.kpis
                    if k.coefficient is not None
                ],
                "raw_score": self.raw_score,
                "clamp": {"min": self.clamp[0], "max": self.clamp[1]} if self.clamp else None,
            }
        out["score"] = self.score
        out["status_from"] = (
            f"health_score range ({self.health_range_source})"
            if self.health_range is not None
            else f"thresholds: healthy >= {fmt_num(HEALTHY_FROM)}, risk >= {fmt_num(RISK_FROM)}"
        )
        out["status_by_score"] = self.status_by_score
        out["coverage"] = self.coverage
        out["min_coverage"] = self.min_coverage
        return out


def score(
    customer: str,
    values: Mapping[str, float | InputValue],
    ranges: Mapping[str, KpiRange],
    scoring: Scoring | None = None,
    *,
    sources: Mapping[str, str] | None = None,
) -> ScoreCard:
    """Score one customer.

    ``values``: KPI → value; ``ranges``: the customer's effective ranges, KPI → range
    (``sources`` says where each comes from: customer, default or file); ``scoring``:
    the customer's model (None: the ranges model with the default points).

    Raises MissingValues when no KPI can be scored (ranges model) or a coefficient's
    KPI has no value (regression model).
    """
    model = scoring or RANGES_MODEL
    inputs = {
        k: v if isinstance(v, InputValue) else InputValue(float(v)) for k, v in values.items()
    }
    sources = sources or {}
    skipped: list[Skipped] = []
    if HEALTH_SCORE in inputs:
        skipped.append(Skipped(HEALTH_SCORE, "computed by kpictl: a supplied value is ignored"))
    coefficients = dict(model.coefficients) if model.model == "regression" else {}
    names = sorted((set(inputs) | set(ranges) | set(coefficients)) - {HEALTH_SCORE})
    missing = [
        k
        for k in names
        if k in coefficients and (k not in inputs or not math.isfinite(inputs[k].value))
    ]
    if HEALTH_SCORE in coefficients:
        missing.insert(0, HEALTH_SCORE)
    if missing:
        raise MissingValues(
            "the regression model needs a value for " + ", ".join(missing) + ", and there is none",
            hint=(
                "health_score is computed and cannot be an input of the model"
                if HEALTH_SCORE in missing
                else f"import observations, or pass --set {missing[0]}=VALUE"
            ),
        )

    points = points_of(model)
    kpis: list[KpiScore] = []
    for name in names:
        given = inputs.get(name)
        kpi_range = ranges.get(name)
        if given is None:
            skipped.append(Skipped(name, "no value"))
            continue
        if not math.isfinite(given.value):
            skipped.append(Skipped(name, f"value {given.value} is not a finite number"))
            continue
        coefficient = coefficients.get(name)
        if kpi_range is None and coefficient is None:
            skipped.append(Skipped(name, "no range"))
            continue
        status = classify(given.value, compile_range(kpi_range)) if kpi_range else None
        counted = model.model == "ranges" and status is not None
        if model.model == "ranges" and status is None:
            skipped.append(Skipped(name, f"value {fmt_num(given.value)} is in no band (a gap)"))
        kpis.append(
            KpiScore(
                kpi_name=name,
                value=given.value,
                status=status or "unknown",
                band=kpi_range.band(status) if kpi_range is not None and status else None,
                weight=kpi_range.weight if kpi_range is not None else None,
                source=sources.get(name, "given") if kpi_range is not None else None,
                playbook=kpi_range.playbook if kpi_range is not None else None,
                points=points[status] if counted and status else None,
                coefficient=coefficient,
                term=term(coefficient, given.value) if coefficient is not None else None,
                value_source=given.source,
                observed_at=given.observed_at,
            )
        )

    health = ranges.get(HEALTH_SCORE)
    health_compiled = compile_range(health) if health is not None else None
    common: dict[str, Any] = {
        "health_range": health,
        "health_range_source": sources.get(HEALTH_SCORE, "given") if health else None,
        "min_coverage": model.min_coverage,
    }
    alerts = sorted(
        (Alert(k.kpi_name, k.status, k.value, k.playbook) for k in kpis if is_alert(k.status)),
        key=lambda a: (SEVERITY[a.status], a.kpi_name),
    )
    if model.model == "ranges":
        counted_kpis = [k for k in kpis if k.points is not None]
        mean = weighted_mean(
            [k.weight or 0.0 for k in counted_kpis], [k.points or 0.0 for k in counted_kpis]
        )
        if mean is None:
            if sum(k.weight or 0.0 for k in counted_kpis) <= 0:
                raise MissingValues(_no_scorable(counted_kpis, skipped), hint=_NO_KPI_HINT)
            raise InvalidInput(
                "the weighted mean of its KPIs leaves the range of a float (weights "
                + ", ".join(f"{k.kpi_name} {k.weight!r}" for k in counted_kpis)
                + ")",
                hint=_OUT_OF_RANGE_HINT,
            )
        by_score = score_status(mean.score, health_compiled)
        cover = coverage(
            [k.weight for k in kpis if k.weight is not None],
            total_weight([r.weight for k, r in ranges.items() if k != HEALTH_SCORE]),
        )
        return ScoreCard(
            customer=customer,
            model="ranges",
            score=mean.score,
            status=judged(by_score, cover, model.min_coverage),
            coverage=cover,
            status_by_score=by_score,
            kpis=kpis,
            alerts=alerts,
            skipped=skipped,
            raw_score=mean.score,
            points=points,
            weighted_sum=round(mean.weighted_sum, DIGITS),
            total_weight=round(mean.total_weight, DIGITS),
            weight_scale=mean.weight_scale,
            **common,
        )

    found = regression(model, [k.term or 0.0 for k in kpis])
    if found is None:
        overflowing = [k for k in kpis if k.term is not None and not math.isfinite(k.term)]
        what = (
            ", ".join(f"{k.kpi_name}: {k.coefficient!r} × {k.value!r}" for k in overflowing)
            if overflowing
            else "the sum of its terms"
        )
        raise InvalidInput(
            f"the regression leaves the range of a float ({what})", hint=_OUT_OF_RANGE_HINT
        )
    by_score = score_status(found.score, health_compiled)
    return ScoreCard(
        customer=customer,
        model="regression",
        score=found.score,
        status=by_score,  # every coefficient has its value: the coverage is 1
        status_by_score=by_score,
        kpis=kpis,
        alerts=alerts,
        skipped=skipped,
        raw_score=found.raw,
        intercept=model.intercept or 0.0,
        clamp=found.clamp,
        **common,
    )


def overall_status(value: float, health_range: KpiRange | None) -> Status:
    """The band of the health_score range holding the score; without one, the thresholds."""
    return score_status(value, compile_range(health_range) if health_range else None)


_OUT_OF_RANGE_HINT = "check the values and the model: a score must be a finite number"
_NO_KPI_HINT = "import observations (kpictl observations import), or pass --values or --set"


def _no_scorable(counted: list[KpiScore], skipped: list[Skipped]) -> str:
    if counted:
        return "no scorable KPI: the KPIs with a value in a band all have weight 0"
    counts = {"without a value": 0, "without a range": 0, "in a gap": 0}
    for s in skipped:
        if s.kpi_name == HEALTH_SCORE:
            continue
        if s.reason == "no value":
            counts["without a value"] += 1
        elif s.reason == "no range":
            counts["without a range"] += 1
        else:
            counts["in a gap"] += 1
    why = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    return f"no scorable KPI ({why or 'no ranges and no values'})"


_iso = iso_or_none  # the one time format (kpictl.times)
