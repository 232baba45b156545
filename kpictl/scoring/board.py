"""The all-customer board of ``score --all``: one :class:`Summary` a customer, computed
by :func:`summarize` (the score card's arithmetic without the card) and kept in a
compact :class:`Scoreboard`, given back worst first. Pure: no I/O."""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kpictl.rangefiles.model import Scoring
from kpictl.scoring.arithmetic import (
    HEALTH_SCORE,
    INSUFFICIENT,
    coverage,
    judged,
    regression,
    score_status,
    term,
    total_weight,
    weighted_mean,
)
from kpictl.scoring.bands import classify


@dataclass(slots=True)
class Summary:
    """One customer's line of ``score --all``: the score, or why there is none."""

    customer: str
    model: str | None
    score: float | None
    status: str | None
    reason: str | None = None
    alerts: int = 0
    coverage: float | None = None  # None when there is no score

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "customer": self.customer,
            "model": self.model,
            "score": self.score,
            "status": self.status,
            "coverage": self.coverage,
        }
        if self.score is None:
            out["reason"] = self.reason
        else:
            out["alerts"] = self.alerts
        return out


def summarize(
    customer: str,
    values: Mapping[str, float],
    ranges: Mapping[str, Sequence[float]],
    model: Scoring,
    points: Mapping[str, float],
    health: Sequence[float] | None,
    model_weight: float | None = None,
) -> Summary | None:
    """:func:`kpictl.scoring.score` reduced to its :class:`Summary`, for ``score --all``:
    the same classification and arithmetic on the same floats in the same order (so the
    same score), without the objects per KPI.

    ``ranges`` are the customer's effective ranges but health_score's, compiled
    (:data:`kpictl.scoring.bands.CompiledRange`); ``points`` are
    :func:`kpictl.scoring.points_of` the model; ``health`` is the effective health_score
    range, compiled; ``model_weight`` is :func:`model_weight_of` ``ranges`` (passed in
    when many customers share them). Returns None when the customer cannot be scored:
    :func:`kpictl.scoring.score` then says why, in its own words.
    """
    regression_model = model.model == "regression"
    coefficients = model.coefficients if regression_model else {}
    if coefficients:
        if HEALTH_SCORE in coefficients:
            return None
        for name in coefficients:
            given = values.get(name)
            if given is None or given - given != 0.0:  # missing, nan or ±inf
                return None
    alerts = 0
    if model.model == "ranges":
        weights: list[float] = []  # of the KPIs counted, in name order
        earned: list[float] = []  # their points
        known = 0  # KPIs with a value and a range
        for name in sorted(values):  # name order (sorting the names alone is quicker)
            value = values[name]
            entry = ranges.get(name)  # never health_score's
            if entry is None or value - value != 0.0:  # no range; nan or ±inf: left out
                continue
            known += 1
            status = classify(value, entry)
            if status is not None:
                if status != "healthy":
                    alerts += 1
                weights.append(entry[0] or 0.0)
                earned.append(points[status])
        mean = weighted_mean(weights, earned)
        if mean is None:
            return None
        if known == len(ranges):
            # every KPI with a range had a value: all of the model's weight, which is
            # what coverage() gives then (pinned by the property tests), without summing
            cover = 1.0
        else:
            weight = model_weight_of(ranges) if model_weight is None else model_weight
            cover = coverage(_known_weights(values, ranges), weight)
        overall = judged(score_status(mean.score, health), cover, model.min_coverage)
        return Summary(customer, "ranges", mean.score, overall, None, alerts, cover)

    terms: list[float] = []  # each KPI's term (0.0 without a coefficient)
    for name in sorted(values):
        value = values[name]
        if value - value != 0.0:  # nan or ±inf: left out
            continue
        entry = ranges.get(name)
        if entry is not None and classify(value, entry) in ("risk", "critical"):
            alerts += 1
        coefficient = coefficients.get(name)
        if coefficient is not None:
            terms.append(term(coefficient, value))
        elif entry is not None:
            terms.append(0.0)
    found = regression(model, terms)
    if found is None:
        return None
    overall = score_status(found.score, health)
    return Summary(customer, "regression", found.score, overall, None, alerts, 1.0)


def _known_weights(
    values: Mapping[str, float], ranges: Mapping[str, Sequence[float]]
) -> list[float]:
    """The weights of the KPIs with a finite value and a range: the numerator of the
    coverage."""
    return [r[0] for k, v in values.items() if v - v == 0.0 and (r := ranges.get(k)) is not None]


def model_weight_of(ranges: Mapping[str, Sequence[float]]) -> float:
    """Σ weight of compiled ranges, health_score's left out: the denominator of the
    coverage."""
    return total_weight([r[0] for k, r in ranges.items() if k != HEALTH_SCORE])


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
        self._coverages = array("d")  # nan: none (no score)
        self._models = _Labels()
        self._statuses = _Labels()
        self._reasons: dict[int, str | None] = {}  # of the customers without a score
        self._by_score: dict[float, array[int]] = {}
        self._order: array[int] | None = None  # worst first, once asked for

    def add(self, customer_id: int, summary: Summary) -> None:
        i = len(self._ids)
        self._ids.append(customer_id)
        self._slugs += summary.customer.encode()
        self._slug_ends.append(len(self._slugs))
        self._models.add(summary.model)
        self._statuses.add(summary.status)
        self._alerts.append(summary.alerts)
        self._coverages.append(_NONE if summary.coverage is None else summary.coverage)
        if summary.score is None or summary.score - summary.score != 0.0:
            # no score, or one that is not a finite number (never made by summarize or
            # score; refused here too, so that no NaN is ever sorted, saved or passed)
            self._scores.append(0.0)
            self._reasons[i] = (
                summary.reason
                if summary.score is None
                else f"the score {summary.score!r} is not a finite number"
            )
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
        summary = self._summary
        for i in self._worst_first():
            yield summary(i)

    def unscored(self) -> list[Summary]:
        """The customers that could not be scored, by customer."""
        return [self._summary(i) for i in self._by_customer(self._reasons)]

    def under(self, threshold: float) -> list[Summary]:
        """The customers scoring under ``threshold``, worst first."""
        out: list[Summary] = []
        for score in sorted(self._by_score):
            if not score < threshold:
                break
            out.extend(map(self._summary, self._by_customer(self._by_score[score])))
        return out

    def insufficient(self) -> list[Summary]:
        """The customers whose status is insufficient_data (a coverage under the model's
        min_coverage), worst first."""
        return [s for s in self if s.status == INSUFFICIENT]

    def scored(self) -> Iterator[tuple[int, Summary]]:
        """(customer_id, summary) of every customer with a score, in the order added."""
        for i in range(len(self._ids)):
            if i not in self._reasons:
                yield self._ids[i], self._summary(i)

    def distinct(self) -> Distinct:
        """The distinct values of each field over every summary, as :meth:`__iter__`
        gives them: what a table needs to size its columns, without a pass over every
        summary (slugs are each customer's own, so they are given as a whole)."""
        n = len(self._ids)
        reasons = self._reasons
        scored: Collection[int] = (
            range(n) if not reasons else [i for i in range(n) if i not in reasons]
        )
        none = {None} if reasons else set()
        statuses = {self._statuses.code(i) for i in scored} if reasons else None
        coverages = {c if c == c else None for c in (self._coverages[i] for i in scored)}
        starts = [0, *self._slug_ends[:-1]]
        return Distinct(
            every_slug=self._slugs.decode(),
            longest_slug=max(map(operator.sub, self._slug_ends, starts), default=0),
            scores=[*self._by_score, *none],
            statuses=[*self._statuses.values(statuses), *none],
            coverages=[*coverages, *none],
            models=self._models.values(None),
            alerts=set(self._alerts) if not reasons else {self._alerts[i] for i in scored},
            reasons=list(reasons.values()),
        )

    def slugs(self) -> Iterator[str]:
        """Every customer's slug, in the order added."""
        for i in range(len(self._ids)):
            yield self._slug_bytes(i).decode()

    def _worst_first(self) -> array[int]:
        """The indexes worst first, sorted once and kept (4 bytes a customer) for the
        passes that follow (a table is laid out in two)."""
        if self._order is None or len(self._order) != len(self._ids):
            order = array("I")
            for score in sorted(self._by_score):
                order.extend(self._by_customer(self._by_score[score]))
            order.extend(self._by_customer(self._reasons))
            self._order = order
        return self._order

    def _slug_bytes(self, i: int) -> bytearray:
        return self._slugs[self._slug_ends[i - 1] if i else 0 : self._slug_ends[i]]

    def _by_customer(self, indexes: Collection[int]) -> Collection[int]:
        return indexes if len(indexes) < 2 else sorted(indexes, key=self._slug_bytes)

    def _summary(self, i: int) -> Summary:
        slug = self._slug_bytes(i).decode()
        if i in self._reasons:
            return Summary(slug, self._models.get(i), None, None, self._reasons[i], self._alerts[i])
        cover = self._coverages[i]
        return Summary(
            slug,
            self._models.get(i),
            self._scores[i],
            self._statuses.get(i),
            None,
            self._alerts[i],
            None if cover != cover else cover,
        )


_NONE = math.nan


@dataclass(frozen=True, slots=True)
class Distinct:
    """:meth:`Scoreboard.distinct`: each field's distinct values (None among them when
    some customer has none there)."""

    every_slug: str  # every slug, run together: to check them all at once
    longest_slug: int  # in UTF-8 bytes
    scores: list[float | None]
    statuses: list[str | None]
    coverages: list[float | None]
    models: list[Any]
    alerts: set[int]  # of the customers with a score
    reasons: list[str | None]  # of the customers without one


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

    def code(self, i: int) -> int:
        return self._codes[i]

    def values(self, codes: Collection[int] | None) -> list[Any]:
        """The values of ``codes`` (None: every value added)."""
        if codes is None:
            return list(self._values)
        return [self._values[c] for c in codes]
