"""The scoring verbs: score one customer, score every customer, import and list
observations. What the CLI (and any other program) calls; nothing here prints.

Scoring needs no range files: the model comes from the revision log written by
``seed`` (the customer's latest revision, else the defaults'), the ranges from the
database (the defaults file, when there is one, fills KPIs the database lacks, as in
``list``), the values from the latest observation at or before the time asked for.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from sqlalchemy import Connection, func, insert, or_, select

from kpictl import api, scoring, store
from kpictl import observations as obs
from kpictl.db import engine as db
from kpictl.db.schema import customers, health_scores, kpi_reference_ranges, range_revisions
from kpictl.db.tenant import tenant_scope
from kpictl.errors import InvalidInput, KpictlError, MissingValues, RangeFilesInvalid, UnknownKpi
from kpictl.rangefiles import load_catalog
from kpictl.rangefiles.model import RANGE_COLUMNS, KpiRange, Scoring
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
        failure = reader.failure()  # "nothing was written" is for imports, not for --values
        raise InvalidInput(f"--values {failure.message.removesuffix('; nothing was written')}")
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
        with _tenant_scope(conn, customer):
            rows = store.effective_ranges(conn, customer, file_defaults=fallback)
            observed = obs.latest_values(conn, customer.customer_id, at)
            previous = _previous_score(conn, customer.customer_id, at)
        models = {
            row.customer_id: row.scoring
            for row in conn.execute(_latest_scoring_query([customer.customer_id], defaults=True))
        }
    model = _model(models.get(customer.customer_id), models.get(None))
    try:
        card = scoring.score(
            slug,
            {**observed, **given},
            {r.kpi_name: r.range for r in rows},
            model,
            sources={r.kpi_name: r.source for r in rows},
        )
    except MissingValues as exc:
        raise MissingValues(
            f"cannot score {slug} at {scoring.iso(at)}: {exc.message}", hint=exc.hint
        ) from None
    return replace(card, at=at, previous=previous)


# -- score every customer --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreAllResult:
    at: datetime
    summaries: list[scoring.Summary]  # worst first
    saved: int  # health_scores rows written (with --save)

    def under(self, threshold: float) -> list[scoring.Summary]:
        return [s for s in self.summaries if s.score is not None and s.score < threshold]


class _Groups(Generic[T]):
    """A stream of (customer_id, items) sorted by customer_id, consumed in step with
    the customers (a merge join: nothing is held but the current customer's rows)."""

    def __init__(self, pairs: Iterable[tuple[int, T]]) -> None:
        self._groups: Iterator[tuple[int, Iterator[tuple[int, T]]]] = itertools.groupby(
            pairs, key=lambda p: p[0]
        )
        self._head: tuple[int, list[T]] | None = None
        self._advance()

    def _advance(self) -> None:
        nxt = next(self._groups, None)
        self._head = None if nxt is None else (nxt[0], [item for _, item in nxt[1]])

    def take(self, customer_id: int) -> list[T]:
        while self._head is not None and self._head[0] < customer_id:
            self._advance()  # rows of a customer id not in customers: not ours to score
        if self._head is not None and self._head[0] == customer_id:
            items = self._head[1]
            self._advance()
            return items
        return []


def _stream(conn: Connection, query: Any) -> Any:
    return conn.execute(query.execution_options(yield_per=2000))


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
    scores are written to health_scores in one statement (``computed_at`` is ``at``:
    the time the score describes).
    """
    at = at or datetime.now(timezone.utc)
    fallback = api.file_defaults(settings)
    with db.open_database(settings, lock_timeout=lock_timeout) as engine:
        transaction = (
            db.write_transaction(engine, lock_timeout=lock_timeout)
            if save
            else db.read_transaction(engine)
        )
        with transaction as conn:
            summaries, ids = _score_every_customer(conn, at, fallback, on_progress)
            saved = 0
            if save:
                rows = [
                    {
                        "customer_id": ids[s.customer],
                        "computed_at": at,
                        "model": s.model,
                        "score": s.score,
                        "status": s.status,
                    }
                    for s in summaries
                    if s.score is not None
                ]
                if rows:
                    conn.execute(insert(health_scores), rows)
                saved = len(rows)
    return ScoreAllResult(at, scoring.worst_first(summaries), saved)


def _score_every_customer(
    conn: Connection,
    at: datetime,
    fallback: Mapping[str, KpiRange],
    on_progress: ProgressCallback | None,
) -> tuple[list[scoring.Summary], dict[str, int]]:
    total = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    default_rows = {
        row.kpi_name: KpiRange.from_row(row.kpi_name, row)
        for row in conn.execute(
            select(R.c.kpi_name, *[R.c[c] for c in RANGE_COLUMNS]).where(R.c.customer_id.is_(None))
        )
    }
    base: dict[str, tuple[KpiRange, str]] = {k: (r, "file") for k, r in fallback.items()}
    base.update({k: (r, "default") for k, r in default_rows.items()})
    default_model = _defaults_scoring(conn)

    own_ranges: _Groups[KpiRange] = _Groups(
        (row.customer_id, KpiRange.from_row(row.kpi_name, row))
        for row in _stream(
            conn,
            select(R.c.customer_id, R.c.kpi_name, *[R.c[c] for c in RANGE_COLUMNS])
            .where(R.c.customer_id.is_not(None))
            .order_by(R.c.customer_id, R.c.kpi_name),
        )
    )
    values: _Groups[tuple[str, scoring.InputValue]] = _Groups(
        (cid, (kpi, value)) for cid, kpi, value in obs.latest_values_all(conn, at)
    )
    models: _Groups[Any] = _Groups(
        (row.customer_id, row.scoring)
        for row in _stream(conn, _latest_scoring_query(None, defaults=False))
    )
    summaries: list[scoring.Summary] = []
    ids: dict[str, int] = {}
    customer_rows = _stream(
        conn,
        select(customers.c.customer_id, customers.c.slug).order_by(customers.c.customer_id),
    )
    for done, row in enumerate(customer_rows, start=1):
        ids[row.slug] = row.customer_id
        effective = dict(base)
        effective.update((r.kpi_name, (r, "customer")) for r in own_ranges.take(row.customer_id))
        own_model = models.take(row.customer_id)
        summaries.append(
            _summary(
                row.slug,
                dict(values.take(row.customer_id)),
                effective,
                own_model[0] if own_model else None,
                default_model,
            )
        )
        if on_progress is not None:
            on_progress(done, total)
    return summaries, ids


def _summary(
    slug: str,
    values: Mapping[str, scoring.InputValue],
    effective: Mapping[str, tuple[KpiRange, str]],
    own_model: Mapping[str, Any] | None,
    default_model: Mapping[str, Any] | None,
) -> scoring.Summary:
    model_name = (own_model or default_model or {}).get("model", "ranges")
    try:
        model = _model(own_model, default_model)
        card = scoring.score(
            slug,
            values,
            {k: r for k, (r, _source) in effective.items()},
            model,
            sources={k: source for k, (_r, source) in effective.items()},
        )
    except KpictlError as exc:  # MissingValues, or a malformed stored model
        return scoring.Summary(slug, model_name, None, None, reason=exc.message)
    return scoring.Summary(slug, card.model, card.score, card.status, alerts=len(card.alerts))


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
