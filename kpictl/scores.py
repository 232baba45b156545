"""The scoring verbs: score one customer, score every customer, import and list
observations. What the CLI (and any other program) calls; nothing here prints.

Scoring needs no range files: the model comes from the revision log written by
``seed`` (the customer's latest revision, else the defaults'), the ranges from the
database (the defaults file, when there is one, fills KPIs the database lacks, as in
``list``), the values from the latest observation at or before the time asked for.
"""

from __future__ import annotations

import itertools
import operator
import queue
import threading
from collections.abc import (
    Callable,
    Collection,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractContextManager, ExitStack, closing
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from sqlalchemy import Connection, and_, case, func, literal_column, or_, select
from sqlalchemy.types import NullType

from kpictl import api, scoring, store
from kpictl import observations as obs
from kpictl.db import engine as db
from kpictl.db.schema import customers, health_scores, kpi_reference_ranges, range_revisions
from kpictl.db.tenant import tenant_scope
from kpictl.errors import InvalidInput, KpictlError, MissingValues, RangeFilesInvalid, UnknownKpi
from kpictl.rangefiles import load_catalog
from kpictl.rangefiles.model import BOUND_COLUMNS, RANGE_COLUMNS, KpiRange, Scoring
from kpictl.rangefiles.yamlstrict import StrictYamlError, read_yaml
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``(done, total)``: customers scored, or bytes read of a file."""

R = kpi_reference_ranges
T = TypeVar("T")


# -- times and KPI names -------------------------------------------------------------


def parse_at(text: str | None) -> datetime:
    """``--at``: ISO 8601 (UTC without a zone); None means now."""
    if text is None:
        return datetime.now(timezone.utc)
    try:
        return obs.parse_timestamp(text)
    except ValueError as exc:
        raise InvalidInput(f"--at: {exc}") from None


def known_kpis(settings: Settings, conn: Connection) -> set[str]:
    """The KPI names values may use: the catalog, else the KPIs of the stored ranges."""
    path = settings.ranges_dir / "kpis.yaml"
    if path.exists():
        catalog, problems = load_catalog(path, display=str(path))
        if catalog is None:
            raise RangeFilesInvalid([p for p in problems if p.severity == "error"])
        return set(catalog.kpis)
    return set(conn.execute(select(R.c.kpi_name).distinct()).scalars())


def _check_kpis(names: Iterable[str], known: Collection[str], *, where: str) -> None:
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UnknownKpi(
            f"{where}: unknown KPI {', '.join(repr(k) for k in unknown)}",
            hint="the KPIs are those of the catalog (kpis.yaml); 'kpictl list' shows the ranges",
        )


# -- values given on the command line ------------------------------------------------


def parse_sets(sets: Sequence[str]) -> dict[str, scoring.InputValue]:
    """``--set KPI=VALUE`` options; a later one for the same KPI wins."""
    out: dict[str, scoring.InputValue] = {}
    for item in sets:
        kpi, sep, raw = item.partition("=")
        if not sep or not kpi.strip():
            raise InvalidInput(
                f"--set {obs.shown(item)}: expected KPI=VALUE, e.g. error_rate_pct=2.5"
            )
        try:
            value = obs.parse_number(raw)
        except ValueError as exc:
            raise InvalidInput(f"--set {obs.shown(item)}: {exc}") from None
        out[kpi.strip()] = scoring.InputValue(value, "set")
    return out


def load_values(
    source: Path | IO[bytes], *, customer: str, at: datetime, display: str | None = None
) -> dict[str, scoring.InputValue]:
    """``--values FILE``: a YAML or JSON mapping of KPI to number, or a CSV file.

    A CSV file has the columns kpi_name and value, and may have customer and
    observed_at (an observations file): rows of other customers and rows after ``at``
    are left out, and per KPI the latest row (else the last line) wins.
    """
    if isinstance(source, Path):
        name = display or str(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"--values {name}: {exc.strerror or exc}") from None
        is_csv = source.suffix.lower() == ".csv" or (
            source.suffix.lower() not in (".yaml", ".yml", ".json") and _looks_like_csv(data)
        )
    else:
        name = display or "<stdin>"
        data = source.read()
        is_csv = _looks_like_csv(data)
    if is_csv:
        return _values_from_csv(data, name, customer=customer, at=at)
    return _values_from_mapping(data, name)


def _looks_like_csv(data: bytes) -> bool:
    first = data.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    return b"kpi_name" in first and b"," in first and b":" not in first


def _values_from_mapping(data: bytes, name: str) -> dict[str, scoring.InputValue]:
    try:
        document = read_yaml(data)
    except StrictYamlError as exc:
        where = f"{name}:{exc.line}" if exc.line else name
        raise InvalidInput(
            f"--values {where}: {exc.message}",
            hint="a YAML or JSON mapping of KPI name to number, e.g. {error_rate_pct: 2.5}",
        ) from None
    if document.issues:
        issue = document.issues[0]
        raise InvalidInput(f"--values {name}:{issue.line}: {issue.message}")
    out: dict[str, scoring.InputValue] = {}
    for kpi, value in document.data.items():
        line = document.line((kpi,))
        if not isinstance(kpi, str):
            raise InvalidInput(f"--values {name}:{line}: a KPI name must be a string: {kpi!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(f"--values {name}:{line} {kpi}: must be a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput(f"--values {name}:{line} {kpi}: must be a finite number")
        out[kpi] = scoring.InputValue(float(value), "values")
    return out


def _values_from_csv(
    data: bytes, name: str, *, customer: str, at: datetime
) -> dict[str, scoring.InputValue]:
    import io

    reader = obs.CsvReader(
        io.BytesIO(data),
        name,
        required=("kpi_name", "value"),
        optional=("customer", "observed_at"),
    )
    best: dict[str, obs.CsvRow] = {}
    for row in reader:
        if row.customer is not None and row.customer != customer:
            continue
        if row.observed_at is not None and row.observed_at > at:
            continue
        held = best.get(row.kpi_name)
        if held is None or (held.observed_at or at) <= (row.observed_at or at):
            best[row.kpi_name] = row
    if reader.problem_count:
        raise InvalidInput(f"--values {reader.failure(writes=False).message}")
    return {
        k: scoring.InputValue(r.value, "values", r.observed_at) for k, r in sorted(best.items())
    }


# -- what scoring reads from the database --------------------------------------------


def _model(own: Mapping[str, Any] | None, defaults: Mapping[str, Any] | None) -> Scoring:
    """The customer's scoring section, else the defaults', else the ranges model."""
    data = own if own else defaults
    if not data:
        return scoring.RANGES_MODEL
    try:
        return Scoring.from_dict(dict(data))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(
            f"the stored scoring model is malformed: {exc!r}",
            hint="re-seed the range file (kpictl seed --force)",
        ) from None


def _latest_scoring_query(customer_ids: Sequence[int] | None, *, defaults: bool) -> Any:
    """The scoring column of the newest revision of each scope (one query)."""
    rv = range_revisions
    newest = select(func.max(rv.c.revision_id)).group_by(rv.c.customer_id)
    if customer_ids is not None:
        clauses = [rv.c.customer_id.in_(list(customer_ids))] if customer_ids else []
        if defaults:
            clauses.append(rv.c.customer_id.is_(None))
        newest = newest.where(or_(*clauses))
    elif not defaults:
        newest = newest.where(rv.c.customer_id.is_not(None))
    return (
        select(rv.c.customer_id, rv.c.scoring)
        .where(rv.c.revision_id.in_(newest))
        .order_by(rv.c.customer_id)
    )


def _defaults_scoring(conn: Connection) -> dict[str, Any] | None:
    query = _latest_scoring_query([], defaults=True)
    row = conn.execute(query).first()
    return row.scoring if row is not None else None


def _previous_score(conn: Connection, customer_id: int, at: datetime) -> scoring.SavedScore | None:
    H = health_scores
    row = conn.execute(
        select(H.c.score, H.c.status, H.c.model, H.c.computed_at)
        .where(H.c.customer_id == customer_id, H.c.computed_at <= at)
        .order_by(H.c.computed_at.desc(), H.c.score_id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return scoring.SavedScore(row.score, row.status, row.model, obs.as_utc(row.computed_at))


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
    values: Mapping[str, scoring.InputValue] | None = None,
    sets: Mapping[str, scoring.InputValue] | None = None,
) -> scoring.ScoreCard:
    """One customer's score card at ``at`` (default now).

    ``values`` (from ``--values``) override the observations, ``sets`` (``--set``)
    override both. The previous saved score at or before ``at`` is on the card.
    """
    at = at or datetime.now(timezone.utc)
    fallback = api.file_defaults(settings)
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        customer = api.get_customer(conn, slug)
        given = {**(values or {}), **(sets or {})}
        if given:
            known = known_kpis(settings, conn)
            _check_kpis(values or {}, known, where="--values")
            _check_kpis(sets or {}, known, where="--set")
        return score_in_transaction(conn, customer, at=at, file_defaults=fallback, given=given)


def score_in_transaction(
    conn: Connection,
    customer: store.Customer,
    *,
    at: datetime,
    file_defaults: Mapping[str, KpiRange],
    given: Mapping[str, scoring.InputValue] | None = None,
) -> scoring.ScoreCard:
    """The score card of ``customer`` read in the caller's transaction (``score SLUG``
    and ``kpictl serve``'s health score). The model is read from the revision log as
    the connection's role; the customer's ranges, observations and saved scores under
    the tenant role (PostgreSQL)."""
    models = {
        row.customer_id: row.scoring
        for row in conn.execute(_latest_scoring_query([customer.customer_id], defaults=True))
    }
    with _tenant_scope(conn, customer):
        rows = store.effective_ranges(conn, customer, file_defaults=file_defaults)
        observed = obs.latest_values(conn, customer.customer_id, at)
        previous = _previous_score(conn, customer.customer_id, at)
    model = _model(models.get(customer.customer_id), models.get(None))
    try:
        card = scoring.score(
            customer.slug,
            {**observed, **(given or {})},
            {r.kpi_name: r.range for r in rows},
            model,
            sources={r.kpi_name: r.source for r in rows},
        )
    except MissingValues as exc:
        raise MissingValues(
            f"cannot score {customer.slug} at {scoring.iso(at)}: {exc.message}", hint=exc.hint
        ) from None
    return replace(card, at=at, previous=previous)


# -- score every customer --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreAllResult:
    at: datetime
    summaries: scoring.Scoreboard  # iterates worst first
    saved: int  # health_scores rows written (with --save)

    def under(self, threshold: float) -> list[scoring.Summary]:
        return self.summaries.under(threshold)


class _Groups(Generic[T]):
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


def _stream(conn: Connection, query: Any) -> Any:
    return conn.execute(query.execution_options(yield_per=2000))


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
    fallback = api.file_defaults(settings)
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


def _save(conn: Connection, board: scoring.Scoreboard, at: datetime) -> int:
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
        }
        for customer_id, s in board.scored()
    )
    while batch := list(itertools.islice(rows, SAVE_BATCH)):
        store.bulk_insert(conn, health_scores, batch)
        saved += len(batch)
    return saved


BOUNDS_AND_WEIGHT = (*BOUND_COLUMNS, "weight")
"""The columns of :func:`scoring.compile_row`."""


def _score_every_customer(
    conn: Connection,
    at: datetime,
    fallback: Mapping[str, KpiRange],
    on_progress: ProgressCallback | None,
) -> scoring.Scoreboard:
    total = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    base: dict[str, KpiRange] = dict(fallback)  # the defaults file, under the defaults rows
    base.update(
        (row.kpi_name, KpiRange.from_row(row.kpi_name, row))
        for row in conn.execute(
            select(R.c.kpi_name, *[R.c[c] for c in RANGE_COLUMNS]).where(R.c.customer_id.is_(None))
        )
    )
    scorer = _Scorer(base, _defaults_scoring(conn))
    inputs = (
        _inputs_aggregated(conn, at)
        if conn.dialect.name == "postgresql"
        else _inputs_merged(conn, at)
    )
    board = scoring.Scoreboard()
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


CustomerInputs = tuple[int, str, dict[str, float], Sequence[tuple[str, Sequence[float]]], Any]
"""(customer_id, slug, latest values, own ranges as (kpi_name, compiled range), the
scoring section of its latest revision)."""


def _inputs_aggregated(conn: Connection, at: datetime) -> Generator[CustomerInputs, None, None]:
    """PostgreSQL: one row per customer, its values and own ranges as arrays, and its
    model. A tenth of the rows of one row per value, no Python grouping, and one
    stream, read ahead by a thread (:func:`_read_ahead`): the fastest read."""
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
            func.array_agg(_compiled_sql(), type_=NullType).label("ranges"),
        )
        .where(R.c.customer_id.is_not(None))
        .group_by(R.c.customer_id)
        .subquery("own")
    )
    models = _latest_scoring_query(None, defaults=False).subquery("models")
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
        for row in _read_ahead(result):
            kpis, own_kpis = row[3], row[5]
            yield (
                row[0],
                row[1],
                dict(zip(kpis, row[4], strict=True)) if kpis else {},
                list(zip(own_kpis, row[6], strict=True)) if own_kpis else [],
                row[2],
            )


def _compiled_sql() -> Any:
    """An own range row as :data:`scoring.CompiledRange`, made by the database (the
    float8[] of (weight, min and max of each band), as ``scoring.compile_row``)."""
    from sqlalchemy.dialects.postgresql import array  # this path runs on PostgreSQL only

    nan: Any = literal_column("'NaN'::float8")
    out: list[Any] = [R.c.weight]
    for band in ("critical", "risk", "healthy"):
        low, high = R.c[f"{band}_min"], R.c[f"{band}_max"]
        missing = and_(low.is_(None), high.is_(None))
        out.append(
            case((missing, nan), else_=func.coalesce(low, literal_column("'-Infinity'::float8")))
        )
        out.append(
            case((missing, nan), else_=func.coalesce(high, literal_column("'Infinity'::float8")))
        )
    return array(out)


READ_BATCH = 1000


def _read_ahead(result: Any, depth: int = 2) -> Iterator[Any]:
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


def _inputs_merged(conn: Connection, at: datetime) -> Generator[CustomerInputs, None, None]:
    """Elsewhere: the customers, their values, own ranges and models as streams sorted
    by customer id, merged. (The streams are closed however this ends: on SQLite an
    open statement holds a lock that would outlive a failed run.)"""
    with ExitStack() as streams:
        own_ranges: _Groups[list[tuple[str, Sequence[float]]]] = _Groups(
            streams.enter_context(
                _stream(
                    conn,
                    select(R.c.customer_id, R.c.kpi_name, *[R.c[c] for c in BOUNDS_AND_WEIGHT])
                    .where(R.c.customer_id.is_not(None))
                    .order_by(R.c.customer_id, R.c.kpi_name),
                )
            ),
            lambda rows: [(row[1], scoring.compile_row(*row[2:])) for row in rows],
        )
        values: _Groups[dict[str, float]] = _Groups(
            streams.enter_context(obs.latest_values_all(conn, at)),
            lambda rows: {row[1]: row[2] for row in rows},
        )
        models: _Groups[Any] = _Groups(  # one row a customer: its newest revision's
            streams.enter_context(_stream(conn, _latest_scoring_query(None, defaults=False))),
            lambda rows: next(rows)[1],
        )
        customer_rows = streams.enter_context(
            _stream(
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


class _Scorer:
    """One customer's summary from its values, own range rows and stored model, on top
    of what every customer shares (the defaults, compiled once).

    The common case goes through :func:`scoring.summarize`; a customer it cannot settle
    (one that cannot be scored) goes through :func:`scoring.score`, the scorer of
    ``score SLUG``, which gives the reason."""

    def __init__(self, base: Mapping[str, KpiRange], default_model: Any) -> None:
        self.base = dict(base)
        self.compiled = {k: scoring.compile_range(r) for k, r in base.items()}
        self.health = self.compiled.pop(scoring.HEALTH_SCORE, None)
        self.default_model = default_model
        # the model of every customer without its own, resolved once (or why it cannot be)
        self._default: tuple[Scoring, dict[str, float]] | KpictlError
        try:
            self._default = self._resolved(None)
        except KpictlError as exc:
            self._default = exc

    def _resolved(self, own_model: Any) -> tuple[Scoring, dict[str, float]]:
        model = _model(own_model, self.default_model)
        return model, scoring.points_of(model)

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
    ) -> scoring.Summary:
        try:
            model, points = self._model(own_model)
        except KpictlError as exc:  # a malformed stored model
            return self._unscored(slug, own_model, exc)
        compiled: Mapping[str, Sequence[float]] = self.compiled
        health: Sequence[float] | None = self.health
        if own_ranges:
            mine = {**compiled, **dict(own_ranges)}
            health = mine.pop(scoring.HEALTH_SCORE, health)
            compiled = mine
        found = scoring.summarize(slug, values, compiled, model, points, health)
        if found is not None:
            return found
        ranges = {**self.base, **{k: scoring.range_of(k, c) for k, c in own_ranges}}
        try:
            card = scoring.score(slug, values, ranges, model)
        except KpictlError as exc:  # MissingValues
            return self._unscored(slug, own_model, exc)
        return scoring.Summary(slug, card.model, card.score, card.status, alerts=len(card.alerts))

    def _unscored(self, slug: str, own_model: Any, exc: KpictlError) -> scoring.Summary:
        model_name = (own_model or self.default_model or {}).get("model", "ranges")
        return scoring.Summary(slug, model_name, None, None, reason=exc.message)


# -- observations ----------------------------------------------------------------------


def import_observations(
    settings: Settings,
    source: Path | IO[bytes],
    *,
    display: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_progress: ProgressCallback | None = None,
) -> obs.ImportResult:
    """Load a CSV of observations (a path, or a binary stream such as stdin).

    Everything is checked before anything is written, and everything lands in one
    transaction: a bad line anywhere writes nothing.
    """
    if isinstance(source, Path):
        name = display or str(source)
        try:
            stream: IO[bytes] = source.open("rb")
            total: int | None = source.stat().st_size
        except OSError as exc:
            raise InvalidInput(f"{name}: {exc.strerror or exc}") from None
    else:
        name, stream, total = display or "<stdin>", source, None
    try:
        with (
            db.open_database(settings, lock_timeout=lock_timeout) as engine,
            db.write_transaction(engine, lock_timeout=lock_timeout) as conn,
        ):
            ids = {slug: c.customer_id for slug, c in store.customers_by_slug(conn).items()}
            return obs.import_csv(
                conn,
                stream,
                display=name,
                customer_ids=ids,
                kpis=known_kpis(settings, conn),
                total_bytes=total,
                on_progress=on_progress,
            )
    finally:
        if isinstance(source, Path):
            stream.close()


def list_observations(
    settings: Settings, slug: str, *, kpi: str | None = None
) -> list[obs.Observation]:
    """A customer's observations, by KPI then time."""
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        if kpi is not None:
            _check_kpis([kpi], known_kpis(settings, conn), where="--kpi")
        customer = api.get_customer(conn, slug)
        with _tenant_scope(conn, customer):
            return list(obs.observations_of(conn, customer.customer_id, kpi=kpi))
