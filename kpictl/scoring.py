"""Health scores (SPEC section 4): the ranges and regression models. Pure: no I/O.

:func:`score` takes a customer's values, its effective ranges and its scoring model
and returns a :class:`ScoreCard`: the score, the overall status, every KPI's status,
the alerts and the KPIs left out with the reason. Where the values, ranges and model
come from (database, ``--values``, ``--set``) is the caller's business: the same
inputs give the same card.

A value for ``health_score`` is never an input: the score is computed.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kpictl.bands import BAND_STATUSES, SEVERITY, Status, band_of, is_alert
from kpictl.errors import MissingValues
from kpictl.rangefiles.model import Band, KpiRange, Scoring
from kpictl.timestamps import iso as iso  # the one time format (re-exported)

HEALTH_SCORE = "health_score"
DEFAULT_POINTS: dict[str, float] = {"healthy": 100.0, "risk": 50.0, "critical": 0.0}
DEFAULT_CLAMP: tuple[float, float] = (0.0, 100.0)
HEALTHY_FROM = 70.0
RISK_FROM = 40.0
RANGES_MODEL = Scoring(model="ranges")
"""The model of a customer when neither its file nor the defaults set one."""

DIGITS = 6
"""Scores and terms are rounded to this many decimals: 52.14 + 0.416 × -14.2 is
46.2328, not 46.232800000000005."""


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "status": self.status,
            "model": self.model,
            "computed_at": _iso(self.computed_at),
        }


@dataclass(frozen=True, slots=True)
class ScoreCard:
    """A customer's health score, how it was reached, and what to do about it."""

    customer: str
    model: str  # ranges | regression
    score: float
    status: Status
    kpis: list[KpiScore]
    alerts: list[Alert]
    skipped: list[Skipped]
    # how the score was reached (--explain)
    raw_score: float  # before the clamp (regression); equal to score for ranges
    points: dict[str, float] | None = None  # ranges
    weighted_sum: float | None = None  # ranges: Σ weight·points
    total_weight: float | None = None  # ranges: Σ weight
    intercept: float | None = None  # regression
    clamp: tuple[float, float] | None = None  # regression
    health_range: KpiRange | None = None  # the range that gave the status; None: thresholds
    health_range_source: str | None = None
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
            else f"thresholds: healthy >= {HEALTHY_FROM:g}, risk >= {RISK_FROM:g}"
        )
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

    points = {**DEFAULT_POINTS, **(model.points or {})}
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
        found = band_of(given.value, kpi_range) if kpi_range is not None else None
        status: Status = found[0] if found else "unknown"
        counted = model.model == "ranges" and found is not None
        if model.model == "ranges" and found is None:
            skipped.append(Skipped(name, f"value {_fmt(given.value)} is in no band (a gap)"))
        kpis.append(
            KpiScore(
                kpi_name=name,
                value=given.value,
                status=status,
                band=found[1] if found else None,
                weight=kpi_range.weight if kpi_range is not None else None,
                source=sources.get(name, "given") if kpi_range is not None else None,
                playbook=kpi_range.playbook if kpi_range is not None else None,
                points=points[status] if counted else None,
                coefficient=coefficient,
                term=round(coefficient * given.value, DIGITS) if coefficient is not None else None,
                value_source=given.source,
                observed_at=given.observed_at,
            )
        )

    health = ranges.get(HEALTH_SCORE)
    common: dict[str, Any] = {
        "health_range": health,
        "health_range_source": sources.get(HEALTH_SCORE, "given") if health else None,
    }
    alerts = sorted(
        (Alert(k.kpi_name, k.status, k.value, k.playbook) for k in kpis if is_alert(k.status)),
        key=lambda a: (SEVERITY[a.status], a.kpi_name),
    )
    if model.model == "ranges":
        counted_kpis = [k for k in kpis if k.points is not None]
        total_weight = sum(k.weight or 0.0 for k in counted_kpis)
        if total_weight <= 0:
            raise MissingValues(_no_scorable(counted_kpis, skipped), hint=_NO_KPI_HINT)
        weighted_sum = sum((k.weight or 0.0) * (k.points or 0.0) for k in counted_kpis)
        value = round(weighted_sum / total_weight, DIGITS)
        return ScoreCard(
            customer=customer,
            model="ranges",
            score=value,
            status=overall_status(value, health),
            kpis=kpis,
            alerts=alerts,
            skipped=skipped,
            raw_score=value,
            points=points,
            weighted_sum=round(weighted_sum, DIGITS),
            total_weight=round(total_weight, DIGITS),
            **common,
        )

    intercept = model.intercept or 0.0
    raw = round(intercept + sum(k.term or 0.0 for k in kpis), DIGITS)
    low, high = model.clamp or DEFAULT_CLAMP
    value = min(max(raw, low), high)
    return ScoreCard(
        customer=customer,
        model="regression",
        score=value,
        status=overall_status(value, health),
        kpis=kpis,
        alerts=alerts,
        skipped=skipped,
        raw_score=raw,
        intercept=intercept,
        clamp=(low, high),
        **common,
    )


def overall_status(value: float, health_range: KpiRange | None) -> Status:
    """The band of the health_score range holding the score; without one, the thresholds."""
    if health_range is None:
        return threshold_status(value)
    found = band_of(value, health_range)
    return found[0] if found else "unknown"


def threshold_status(value: float) -> Status:
    """healthy ≥ 70, risk ≥ 40, else critical: when no health_score range exists anywhere."""
    if value >= HEALTHY_FROM:
        return "healthy"
    if value >= RISK_FROM:
        return "risk"
    return "critical"


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


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


@dataclass(slots=True)
class Summary:
    """One customer's line of ``score --all``: the score, or why there is none."""

    customer: str
    model: str | None
    score: float | None
    status: str | None
    reason: str | None = None
    alerts: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "customer": self.customer,
            "model": self.model,
            "score": self.score,
            "status": self.status,
        }
        if self.score is None:
            out["reason"] = self.reason
        else:
            out["alerts"] = self.alerts
        return out


def worst_first(summaries: list[Summary]) -> list[Summary]:
    """Lowest score first; customers that could not be scored after the scored ones."""
    return sorted(
        summaries,
        key=lambda s: (s.score is None, s.score if s.score is not None else 0.0, s.customer),
    )


# -- score --all: summaries without the cards ------------------------------------------

CompiledRange = tuple[float, float, float, float, float, float, float]
"""A KPI's range as :func:`summarize` reads it: (weight, critical_min, critical_max,
risk_min, risk_max, healthy_min, healthy_max), a missing bound as -inf/inf and a
missing band as (nan, nan), so that ``min <= value < max`` is ``Band.contains`` for a
finite value, and is false for a band that is not there."""

_NO_BAND = (math.nan, math.nan)


def compile_range(kpi_range: KpiRange) -> CompiledRange:
    """A range, ready for :func:`summarize`."""
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
    the range (``score --all`` on SQLite; on PostgreSQL the query does it)."""
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
    """The range a compiled one was made from (for :func:`score`): the same bands and
    weight, so the same statuses."""
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


def points_of(model: Scoring) -> dict[str, float]:
    """The points of each status under a ranges model, as :func:`score` multiplies
    them (``points or 0.0``)."""
    return {k: v or 0.0 for k, v in {**DEFAULT_POINTS, **(model.points or {})}.items()}


def summarize(
    customer: str,
    values: Mapping[str, float],
    ranges: Mapping[str, Sequence[float]],
    model: Scoring,
    points: Mapping[str, float],
    health: Sequence[float] | None,
) -> Summary | None:
    """:func:`score` reduced to its :class:`Summary`, for ``score --all``: the same
    arithmetic on the same floats in the same order (so the same score), without the
    objects per KPI.

    ``ranges`` are the customer's effective ranges but health_score's, compiled
    (:data:`CompiledRange`); ``points`` are :func:`points_of` the model; ``health`` is
    the effective health_score range, compiled. Returns None when the customer cannot
    be scored: :func:`score` then says why, in its own words.
    """
    regression = model.model == "regression"
    coefficients = model.coefficients if regression else {}
    isfinite = math.isfinite
    if coefficients:
        if HEALTH_SCORE in coefficients:
            return None
        for name in coefficients:
            given = values.get(name)
            if given is None or not isfinite(given):
                return None
    by_ranges = model.model == "ranges"
    alerts = 0
    weights: list[float] = []  # ranges: of the KPIs counted, in name order
    products: list[float] = []  # ranges: their weight × points
    terms: list[float] = []  # otherwise: each KPI's term (0.0 without a coefficient)
    for name, value in sorted(values.items()):
        if name == HEALTH_SCORE or not isfinite(value):
            continue
        entry = ranges.get(name)
        status = None
        if entry is not None:
            weight, c_min, c_max, r_min, r_max, h_min, h_max = entry
            if c_min <= value < c_max:
                status = "critical"
                alerts += 1
            elif r_min <= value < r_max:
                status = "risk"
                alerts += 1
            elif h_min <= value < h_max:
                status = "healthy"
        if by_ranges:
            if status is not None:
                weight = weight or 0.0
                weights.append(weight)
                products.append(weight * points[status])
            continue
        coefficient = coefficients.get(name)
        if coefficient is not None:
            terms.append(round(coefficient * value, DIGITS) or 0.0)
        elif entry is not None:
            terms.append(0.0)
    if by_ranges:
        total_weight = sum(weights)
        if total_weight <= 0:
            return None
        value = round(sum(products) / total_weight, DIGITS)
        return Summary(customer, "ranges", value, _status_of(value, health), None, alerts)
    raw = round((model.intercept or 0.0) + sum(terms), DIGITS)
    low, high = model.clamp or DEFAULT_CLAMP
    value = min(max(raw, low), high)
    return Summary(customer, "regression", value, _status_of(value, health), None, alerts)


def _status_of(value: float, health: Sequence[float] | None) -> str:
    """:func:`overall_status` with the health_score range compiled."""
    if health is None:
        return threshold_status(value)
    if math.isfinite(value):
        _weight, c_min, c_max, r_min, r_max, h_min, h_max = health
        if c_min <= value < c_max:
            return "critical"
        if r_min <= value < r_max:
            return "risk"
        if h_min <= value < h_max:
            return "healthy"
    return "unknown"


class Scoreboard:
    """The summaries of ``score --all``, kept compact (some 50 bytes a customer, not the
    few hundred of an object each, so memory stays flat as customers grow) and given
    back worst first, one at a time: lowest score first, ties by customer; customers
    that could not be scored last, by customer."""

    def __init__(self) -> None:
        self._ids = array("q")
        self._slugs = bytearray()  # UTF-8: its byte order is the str order
        self._slug_ends = array("Q")
        self._scores = array("d")
        self._alerts = array("I")
        self._models = _Labels()
        self._statuses = _Labels()
        self._reasons: dict[int, str | None] = {}  # of the customers without a score
        self._by_score: dict[float, array[int]] = {}

    def add(self, customer_id: int, summary: Summary) -> None:
        i = len(self._ids)
        self._ids.append(customer_id)
        self._slugs += summary.customer.encode()
        self._slug_ends.append(len(self._slugs))
        self._models.add(summary.model)
        self._statuses.add(summary.status)
        self._alerts.append(summary.alerts)
        if summary.score is None:
            self._scores.append(0.0)
            self._reasons[i] = summary.reason
            return
        self._scores.append(summary.score)
        same = self._by_score.get(summary.score)
        if same is None:
            self._by_score[summary.score] = array("I", (i,))
        else:
            same.append(i)

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[Summary]:
        """Worst first."""
        for score in sorted(self._by_score):
            yield from self._in_customer_order(self._by_score[score])
        yield from self._in_customer_order(self._reasons)

    def unscored(self) -> list[Summary]:
        """The customers that could not be scored, by customer."""
        return list(self._in_customer_order(self._reasons))

    def under(self, threshold: float) -> list[Summary]:
        """The customers scoring under ``threshold``, worst first."""
        out: list[Summary] = []
        for score in sorted(self._by_score):
            if not score < threshold:
                break
            out.extend(self._in_customer_order(self._by_score[score]))
        return out

    def scored(self) -> Iterator[tuple[int, Summary]]:
        """(customer_id, summary) of every customer with a score, in the order added."""
        for i in range(len(self._ids)):
            if i not in self._reasons:
                yield self._ids[i], self._summary(i)

    def _slug_bytes(self, i: int) -> bytearray:
        return self._slugs[self._slug_ends[i - 1] if i else 0 : self._slug_ends[i]]

    def _in_customer_order(self, indexes: Collection[int]) -> Iterator[Summary]:
        order = indexes if len(indexes) < 2 else sorted(indexes, key=self._slug_bytes)
        for i in order:
            yield self._summary(i)

    def _summary(self, i: int) -> Summary:
        scored = i not in self._reasons
        return Summary(
            self._slug_bytes(i).decode(),
            self._models.get(i),
            self._scores[i] if scored else None,
            self._statuses.get(i),
            None if scored else self._reasons[i],
            self._alerts[i],
        )


class _Labels:
    """A column of a few distinct values (models, statuses): a byte a row (four past
    256 values)."""

    def __init__(self) -> None:
        self._codes = array("B")
        self._values: list[Any] = []
        self._index: dict[Any, int] = {}

    def add(self, value: Any) -> None:
        try:
            code = self._index[value]
        except KeyError:
            code = self._index[value] = self._new(value)
        except TypeError:  # unhashable (a malformed stored model): kept as it is
            code = self._new(value)
        self._codes.append(code)

    def _new(self, value: Any) -> int:
        self._values.append(value)
        if len(self._values) == 257:
            self._codes = array("I", self._codes)
        return len(self._values) - 1

    def get(self, i: int) -> Any:
        return self._values[self._codes[i]]
