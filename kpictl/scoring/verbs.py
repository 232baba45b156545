"""The scoring verbs: score one customer, score every customer, import and list
observations. What the CLI (and any other program) calls; nothing here prints.

Scoring needs no range files: the model comes from the revision log written by
``seed`` (the customer's latest revision, else the defaults'), the ranges from the
database (the defaults file, when there is one, fills KPIs the database lacks, as in
``list``), the values from the latest observation at or before the time asked for.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, func, select

from kpictl import observations as obs
from kpictl import store
from kpictl.db import engine as db
from kpictl.db.schema import customers, health_scores
from kpictl.db.tenant import tenant_scope
from kpictl.errors import InvalidInput, KpictlError, MissingValues
from kpictl.observations.values import check_kpis, known_kpis
from kpictl.rangefiles.model import KpiRange, Scoring
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.scoring import inputs as sql
from kpictl.scoring.arithmetic import HEALTH_SCORE, points_of
from kpictl.scoring.bands import compile_range, range_of
from kpictl.scoring.board import Scoreboard, Summary, model_weight_of, summarize
from kpictl.scoring.card import InputValue, ScoreCard, iso, score
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``(done, total)``: customers scored, or bytes read of a file."""


def _tenant_scope(conn: Connection, customer: store.Customer) -> AbstractContextManager[Any]:
    """A customer's own rows are read under the tenant role (PostgreSQL's row-level
    security then admits nothing of another customer); a no-op on SQLite."""
    return tenant_scope(conn, customer.customer_id)


# -- score one customer ----------------------------------------------------------------


def score_customer(
    settings: Settings,
    slug: str,
    *,
    at: datetime | None = None,
    values: Mapping[str, InputValue] | None = None,
    sets: Mapping[str, InputValue] | None = None,
) -> ScoreCard:
    """One customer's score card at ``at`` (default now).

    ``values`` (from ``--values``) override the observations, ``sets`` (``--set``)
    override both. The previous saved score at or before ``at`` is on the card.
    """
    at = at or datetime.now(timezone.utc)
    ranges = RangeDir(settings.ranges_dir)  # its catalog is read once, here or not at all
    fallback = ranges.file_defaults()
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        customer = store.get_customer(conn, slug)
        given = {**(values or {}), **(sets or {})}
        if given:
            known = known_kpis(ranges, conn)
            check_kpis(values or {}, known, where="--values")
            check_kpis(sets or {}, known, where="--set")
        return score_in_transaction(conn, customer, at=at, file_defaults=fallback, given=given)


def score_in_transaction(
    conn: Connection,
    customer: store.Customer,
    *,
    at: datetime,
    file_defaults: Mapping[str, KpiRange],
    given: Mapping[str, InputValue] | None = None,
) -> ScoreCard:
    """The score card of ``customer`` read in the caller's transaction (``score SLUG``
    and ``kpictl serve``'s health score). The model is read from the revision log as
    the connection's role; the customer's ranges, observations and saved scores under
    the tenant role (PostgreSQL)."""
    models = {
        row.customer_id: row.scoring
        for row in conn.execute(sql.latest_scoring_query([customer.customer_id], defaults=True))
    }
    with _tenant_scope(conn, customer):
        rows = store.effective_ranges(conn, customer, file_defaults=file_defaults)
        observed = obs.latest_values(conn, customer.customer_id, at)
        previous = sql.previous_score(conn, customer.customer_id, at)
    model = sql.model_of(models.get(customer.customer_id), models.get(None))
    try:
        card = score(
            customer.slug,
            {**observed, **(given or {})},
            {r.kpi_name: r.range for r in rows},
            model,
            sources={r.kpi_name: r.source for r in rows},
        )
    except (MissingValues, InvalidInput) as exc:  # what score() refuses, and why
        raise type(exc)(
            f"cannot score {customer.slug} at {iso(at)}: {exc.message}", hint=exc.hint
        ) from None
    return replace(card, at=at, previous=previous)


# -- score every customer --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreAllResult:
    at: datetime
    summaries: Scoreboard  # iterates worst first
    saved: int  # health_scores rows written (with --save)

    def under(self, threshold: float) -> list[Summary]:
        return self.summaries.under(threshold)


PROGRESS_EVERY = 1000
"""Customers between two progress reports (a report per customer costs more than
scoring one)."""


def score_all(
    settings: Settings,
    *,
    at: datetime | None = None,
    save: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_progress: ProgressCallback | None = None,
) -> ScoreAllResult:
    """Score every customer at ``at``: a few set-based queries, streamed in customer order.

    A customer that cannot be scored is listed with the reason. With ``save``, the
    scores are written to health_scores in bulk statements (``computed_at`` is ``at``:
    the time the score describes).
    """
    at = at or datetime.now(timezone.utc)
    fallback = RangeDir(settings.ranges_dir).file_defaults()
    with db.open_database(settings, lock_timeout=lock_timeout, write=save) as engine:
        transaction = (
            db.write_transaction(engine, lock_timeout=lock_timeout)
            if save
            else db.read_transaction(engine)
        )
        with transaction as conn:
            board = _score_every_customer(conn, at, fallback, on_progress)
            saved = _save(conn, board, at) if save else 0
    return ScoreAllResult(at, board, saved)


SAVE_BATCH = 10_000


def _save(conn: Connection, board: Scoreboard, at: datetime) -> int:
    """The scores into health_scores, a batch at a time (memory stays flat), each in one
    bulk operation (:func:`store.bulk_insert`: COPY on PostgreSQL)."""
    saved = 0
    rows = (
        {
            "customer_id": customer_id,
            "computed_at": at,
            "model": s.model,
            "score": s.score,
            "status": s.status,
            "coverage": s.coverage,
        }
        for customer_id, s in board.scored()
    )
    while batch := list(itertools.islice(rows, SAVE_BATCH)):
        store.bulk_insert(conn, health_scores, batch)
        saved += len(batch)
    return saved


def _score_every_customer(
    conn: Connection,
    at: datetime,
    fallback: Mapping[str, KpiRange],
    on_progress: ProgressCallback | None,
) -> Scoreboard:
    total = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    scorer = _Scorer(sql.default_ranges(conn, fallback), sql.defaults_scoring(conn))
    inputs = sql.every_customer_inputs(conn, at)
    board = Scoreboard()
    done = 0
    with closing(inputs):  # its cursors, even when scoring fails half-way
        for customer_id, slug, values, own_ranges, own_model in inputs:
            board.add(customer_id, scorer.summary(slug, values, own_ranges, own_model))
            done += 1
            if on_progress is not None and done % PROGRESS_EVERY == 0:
                on_progress(done, total)
    if on_progress is not None:
        on_progress(done, total)
    return board


class _Scorer:
    """One customer's summary from its values, own range rows and stored model, on top
    of what every customer shares (the defaults, compiled once).

    The common case goes through :func:`summarize`; a customer it cannot settle
    (one that cannot be scored) goes through :func:`kpictl.scoring.score`, the scorer of
    ``score SLUG``, which gives the reason."""

    def __init__(self, base: Mapping[str, KpiRange], default_model: Any) -> None:
        self.base = dict(base)
        self.compiled = {k: compile_range(r) for k, r in base.items()}
        self.health = self.compiled.pop(HEALTH_SCORE, None)
        self.model_weight = model_weight_of(self.compiled)
        self.default_model = default_model
        # the model of every customer without its own, resolved once (or why it cannot be)
        self._default: tuple[Scoring, dict[str, float]] | KpictlError
        try:
            self._default = self._resolved(None)
        except KpictlError as exc:
            self._default = exc

    def _resolved(self, own_model: Any) -> tuple[Scoring, dict[str, float]]:
        model = sql.model_of(own_model, self.default_model)
        return model, points_of(model)

    def _model(self, own_model: Any) -> tuple[Scoring, dict[str, float]]:
        if own_model:
            return self._resolved(own_model)
        if isinstance(self._default, KpictlError):
            raise self._default
        return self._default

    def summary(
        self,
        slug: str,
        values: dict[str, float],
        own_ranges: Sequence[tuple[str, Sequence[float]]],
        own_model: Any,
    ) -> Summary:
        try:
            model, points = self._model(own_model)
        except KpictlError as exc:  # a malformed stored model
            return self._unscored(slug, own_model, exc)
        compiled: Mapping[str, Sequence[float]] = self.compiled
        health: Sequence[float] | None = self.health
        weight: float | None = self.model_weight
        if own_ranges:
            mine = {**compiled, **dict(own_ranges)}
            health = mine.pop(HEALTH_SCORE, health)
            compiled = mine
            weight = None  # summarize sums this customer's own
        found = summarize(slug, values, compiled, model, points, health, weight)
        if found is not None:
            return found
        ranges = {**self.base, **{k: range_of(k, c) for k, c in own_ranges}}
        try:
            card = score(slug, values, ranges, model)
        except KpictlError as exc:  # MissingValues
            return self._unscored(slug, own_model, exc)
        return Summary(
            slug,
            card.model,
            card.score,
            card.status,
            alerts=len(card.alerts),
            coverage=card.coverage,
        )

    def _unscored(self, slug: str, own_model: Any, exc: KpictlError) -> Summary:
        model_name = (own_model or self.default_model or {}).get("model", "ranges")
        return Summary(slug, model_name, None, None, reason=exc.message)
