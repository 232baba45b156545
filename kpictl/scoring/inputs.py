"""What scoring reads from the database: each customer's latest values, own ranges
and stored model, as set-based streams in customer order (never a query per
customer), and the stored model and previous score of one customer."""

from __future__ import annotations

import itertools
import math
import operator
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, false, func, select
from sqlalchemy.types import NullType

from kpictl import observations as obs
from kpictl import store
from kpictl.backends import backend_of
from kpictl.backends.postgresql import compiled_ranges_sql as compiled_sql  # noqa: F401
from kpictl.db.schema import customers, health_scores, kpi_reference_ranges, range_revisions
from kpictl.errors import InvalidInput
from kpictl.rangefiles.model import BOUND_COLUMNS, RANGE_COLUMNS, KpiRange, Scoring
from kpictl.scoring.arithmetic import RANGES_MODEL
from kpictl.scoring.bands import compile_row
from kpictl.scoring.card import SavedScore

R = kpi_reference_ranges
T = TypeVar("T")

# -- what scoring reads from the database --------------------------------------------


def model_of(own: Mapping[str, Any] | None, defaults: Mapping[str, Any] | None) -> Scoring:
    """The customer's scoring section, else the defaults', else the ranges model; its
    ``min_coverage`` is the customer's, else the defaults' (else none)."""
    data = own if own else defaults
    if not data:
        return RANGES_MODEL
    try:
        model = Scoring.from_dict(dict(data))
        if model.min_coverage is None and data is own and defaults:
            inherited = dict(defaults).get("min_coverage")
            if inherited is not None:
                model = replace(model, min_coverage=float(inherited))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(
            f"the stored scoring model is malformed: {exc!r}",
            hint="re-seed the range file (kpictl seed --force)",
        ) from None
    return model


def latest_scoring_query(customer_ids: Sequence[int] | None, *, defaults: bool) -> Any:
    """The scoring column of the newest revision of each scope (one query; "newest" is
    ``store.newest_revisions``, the one definition). ``customer_ids`` None: every
    customer; ``defaults``: the defaults' scope too."""
    rv = range_revisions
    scope: Any
    if customer_ids is not None:
        scope = store.scope_filter(rv.c.customer_id, [*customer_ids, *([None] * defaults)])
        if scope is None:
            scope = false()
    else:
        scope = None if defaults else rv.c.customer_id.is_not(None)
    return (
        select(rv.c.customer_id, rv.c.scoring)
        .where(rv.c.revision_id.in_(store.newest_revisions(scope)))
        .order_by(rv.c.customer_id)
    )


def defaults_scoring(conn: Connection) -> dict[str, Any] | None:
    query = latest_scoring_query([], defaults=True)
    row = conn.execute(query).first()
    return row.scoring if row is not None else None


def previous_score(conn: Connection, customer_id: int, at: datetime) -> SavedScore | None:
    H = health_scores
    row = conn.execute(
        select(H.c.score, H.c.status, H.c.model, H.c.computed_at, H.c.coverage)
        .where(H.c.customer_id == customer_id, H.c.computed_at <= at)
        # a NaN or infinite score saved by an older kpictl is no trend to compare with
        # (PostgreSQL orders NaN above +inf: both bounds leave it out)
        .where(H.c.score > -math.inf, H.c.score < math.inf)
        .order_by(H.c.computed_at.desc(), H.c.score_id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return SavedScore(row.score, row.status, row.model, obs.as_utc(row.computed_at), row.coverage)


class Groups(Generic[T]):
    """Rows sorted by customer_id (their first column), consumed in step with the
    customers (a merge join: nothing is held but the current customer's rows), each
    customer's rows turned into one ``T`` by ``build``."""

    def __init__(self, rows: Iterable[Any], build: Callable[[Iterator[Any]], T]) -> None:
        self._groups = itertools.groupby(rows, key=operator.itemgetter(0))
        self._build = build
        self._head: tuple[int, T] | None = None
        self._advance()

    def _advance(self) -> None:
        nxt = next(self._groups, None)
        self._head = None if nxt is None else (nxt[0], self._build(nxt[1]))

    def take(self, customer_id: int) -> T | None:
        while self._head is not None and self._head[0] < customer_id:
            self._advance()  # rows of a customer id not in customers: not ours to score
        if self._head is not None and self._head[0] == customer_id:
            items = self._head[1]
            self._advance()
            return items
        return None


def stream(conn: Connection, query: Any) -> Any:
    return conn.execute(query.execution_options(yield_per=2000))


BOUNDS_AND_WEIGHT = (*BOUND_COLUMNS, "weight")
"""The columns of :func:`compile_row`."""


def default_ranges(conn: Connection, fallback: Mapping[str, KpiRange]) -> dict[str, KpiRange]:
    """The ranges every customer starts from: the defaults rows, over ``fallback``
    (the defaults file) for the KPIs the database lacks."""
    base: dict[str, KpiRange] = dict(fallback)
    base.update(
        (row.kpi_name, KpiRange.from_row(row.kpi_name, row))
        for row in conn.execute(
            select(R.c.kpi_name, *[R.c[c] for c in RANGE_COLUMNS]).where(R.c.customer_id.is_(None))
        )
    )
    return base


def every_customer_inputs(conn: Connection, at: datetime) -> Generator[CustomerInputs, None, None]:
    """Every customer's :data:`CustomerInputs` at ``at``, in customer id order: the
    fastest read of each backend (close it when done: it holds cursors)."""
    if backend_of(conn).array_aggregates:
        return inputs_aggregated(conn, at)
    return inputs_merged(conn, at)


CustomerInputs = tuple[int, str, dict[str, float], Sequence[tuple[str, Sequence[float]]], Any]
"""(customer_id, slug, latest values, own ranges as (kpi_name, compiled range), the
scoring section of its latest revision)."""


def inputs_aggregated(conn: Connection, at: datetime) -> Generator[CustomerInputs, None, None]:
    """PostgreSQL: one row per customer, its values and own ranges as arrays, and its
    model. A tenth of the rows of one row per value, no Python grouping, and one
    stream, read ahead by a thread (:func:`read_ahead`): the fastest read."""
    backend = backend_of(conn)
    latest = obs.latest_values_query(conn, at).subquery("latest")
    values = (
        select(
            latest.c.customer_id,
            func.array_agg(latest.c.kpi_name, type_=NullType).label("kpis"),
            func.array_agg(latest.c.value, type_=NullType).label("vals"),
        )
        .group_by(latest.c.customer_id)
        .subquery("vals")
    )
    own = (
        select(
            R.c.customer_id,
            func.array_agg(R.c.kpi_name, type_=NullType).label("kpis"),
            func.array_agg(backend.compiled_ranges_sql(), type_=NullType).label("ranges"),
        )
        .where(R.c.customer_id.is_not(None))
        .group_by(R.c.customer_id)
        .subquery("own")
    )
    models = latest_scoring_query(None, defaults=False).subquery("models")
    C = customers.c
    query = (
        select(
            C.customer_id,
            C.slug,
            models.c.scoring,
            values.c.kpis,
            values.c.vals,
            own.c.kpis,
            own.c.ranges,
        )
        .outerjoin(values, values.c.customer_id == C.customer_id)
        .outerjoin(own, own.c.customer_id == C.customer_id)
        .outerjoin(models, models.c.customer_id == C.customer_id)
        .order_by(C.customer_id)
    )
    # the arrays come as psycopg2 makes them (lists of str, float, None): NullType
    # spares SQLAlchemy a pass over every element
    with conn.execute(query.execution_options(yield_per=READ_BATCH)) as result:
        for row in read_ahead(result):
            kpis, own_kpis = row[3], row[5]
            yield (
                row[0],
                row[1],
                dict(zip(kpis, row[4], strict=True)) if kpis else {},
                list(zip(own_kpis, row[6], strict=True)) if own_kpis else [],
                row[2],
            )


READ_BATCH = 1000


def read_ahead(result: Any, depth: int = 2) -> Iterator[Any]:
    """The rows of a streamed result, fetched by a thread up to ``depth`` batches
    ahead, so the database computes (and the driver decodes) the next rows while these
    are scored. psycopg2 lets go of the GIL while it waits for the server.

    Nothing else may use the connection until the rows are all read (or the reader is
    closed: the thread then stops after its current batch)."""
    batches: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in result.partitions(READ_BATCH):
                if not put(batch):
                    return
            put(None)
        except BaseException as exc:  # handed to the reader, raised there
            put(exc)

    reader = threading.Thread(target=read, name="kpictl-read-ahead", daemon=True)
    reader.start()
    try:
        while (batch := batches.get()) is not None:
            if isinstance(batch, BaseException):
                raise batch
            yield from batch
    finally:
        stop.set()
        reader.join()


def inputs_merged(conn: Connection, at: datetime) -> Generator[CustomerInputs, None, None]:
    """Elsewhere: the customers, their values, own ranges and models as streams sorted
    by customer id, merged. (The streams are closed however this ends: on SQLite an
    open statement holds a lock that would outlive a failed run.)"""
    with ExitStack() as streams:
        own_ranges: Groups[list[tuple[str, Sequence[float]]]] = Groups(
            streams.enter_context(
                stream(
                    conn,
                    select(R.c.customer_id, R.c.kpi_name, *[R.c[c] for c in BOUNDS_AND_WEIGHT])
                    .where(R.c.customer_id.is_not(None))
                    .order_by(R.c.customer_id, R.c.kpi_name),
                )
            ),
            lambda rows: [(row[1], compile_row(*row[2:])) for row in rows],
        )
        values: Groups[dict[str, float]] = Groups(
            streams.enter_context(obs.latest_values_all(conn, at)),
            lambda rows: {row[1]: row[2] for row in rows},
        )
        models: Groups[Any] = Groups(  # one row a customer: its newest revision's
            streams.enter_context(stream(conn, latest_scoring_query(None, defaults=False))),
            lambda rows: next(rows)[1],
        )
        customer_rows = streams.enter_context(
            stream(
                conn,
                select(customers.c.customer_id, customers.c.slug).order_by(customers.c.customer_id),
            )
        )
        for customer_id, slug in customer_rows:
            yield (
                customer_id,
                slug,
                values.take(customer_id) or {},
                own_ranges.take(customer_id) or [],
                models.take(customer_id),
            )
