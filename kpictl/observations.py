"""KPI observations: reading CSV strictly, loading it in bulk, and reading it back.

A CSV file is validated completely before anything is written: a bad line anywhere
fails the import with the line and column named, and nothing lands. The file is
streamed: rows go in batches into a temporary staging table (invisible to everyone
else and gone with the transaction), never held as Python objects all at once. Then
a handful of set-based statements merge the staging table into ``kpi_observations``:
the last line for a (customer, KPI, time) wins, an existing value is replaced.

Times are ISO 8601; without a zone they are UTC. They are stored in UTC: PostgreSQL
keeps ``timestamptz``, SQLite the naive UTC text SQLAlchemy writes, so comparisons
agree on both.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from kpictl.db.schema import customers, kpi_observations
from kpictl.errors import InvalidInput
from kpictl.scoring import InputValue, iso

OBSERVATION_COLUMNS = ("customer", "kpi_name", "value", "observed_at")
BATCH_SIZE = 10_000  # rows per INSERT into the staging table (SQLite)
COPY_CHUNK = 5_000  # rows per piece of the one streamed COPY (PostgreSQL)
_TIME_CACHE_SIZE = 65_536  # observations share their times: parse each text once
MAX_SHOWN_PROBLEMS = 5

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``(bytes read, total bytes or None)`` while a file is read."""

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


# -- values and times ----------------------------------------------------------------


def shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, cut short: a bad cell may be megabytes long."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def parse_number(text: str) -> float:
    """A finite decimal number (``12``, ``-0.5``, ``1e6``); ValueError otherwise."""
    stripped = text.strip()
    if not _NUMBER_RE.fullmatch(stripped):
        raise ValueError(f"{shown(text)} is not a number")
    value = float(stripped)
    if not math.isfinite(value):
        raise ValueError(f"{shown(text)} is not a finite number")
    return value


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 time in UTC; without a zone it is UTC. ValueError when it is not one."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("a time is required (ISO 8601, e.g. 2026-11-27T06:00:00Z)")
    try:
        # fromisoformat stops at a NUL character and ignores what follows: refuse it
        if not (stripped.isascii() and stripped.isprintable()):
            raise ValueError
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{shown(text)} is not an ISO 8601 time (e.g. 2026-11-27T06:00:00Z)"
        ) from None
    try:
        return as_utc(parsed)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC time there is
        raise ValueError(f"{shown(text)} is out of range in UTC") from None


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already (SQLite gives those)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


# -- strict CSV reading --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """One bad cell or line of a CSV file."""

    display: str
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f" column {self.column}" if self.column else ""
        return f"{self.display}:{self.line}{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One valid data line."""

    line: int
    customer: str | None
    kpi_name: str
    value: float
    observed_at: datetime | None


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from a binary stream, for the progress bar."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0
        self.newlines = 0  # in the bytes read so far

    def line_of(self, exc: UnicodeDecodeError) -> int:
        """The line of an undecodable byte: the decoder works on whole chunks, ahead of
        the lines the CSV reader has handed out, so count back from what was read."""
        after = bytes(exc.object[exc.start :]).count(b"\n")
        return max(1, self.newlines - after + 1)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self.newlines += data.count(b"\n")
        return n


@dataclass(slots=True)
class CsvReader:
    """Reads and checks a CSV stream line by line; collects problems instead of raising.

    ``required`` columns must be in the header and ``optional`` ones may be; no other
    column is accepted. ``customers`` and ``kpis``, when given, are what a customer
    slug and a KPI name must be among.
    """

    stream: IO[bytes]
    display: str
    required: tuple[str, ...] = OBSERVATION_COLUMNS
    optional: tuple[str, ...] = ()
    customers: Collection[str] | None = None
    kpis: Collection[str] | None = None
    problems: list[CsvProblem] = field(default_factory=list)
    problem_count: int = 0
    rows_read: int = 0
    _counter: _CountingReader | None = None
    _times: dict[str, datetime] = field(default_factory=dict)  # parsed times, by their text

    @property
    def bytes_read(self) -> int:
        return self._counter.count if self._counter else 0

    def problem(self, line: int, column: str | None, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_SHOWN_PROBLEMS:
            self.problems.append(CsvProblem(self.display, line, column, message))

    def __iter__(self) -> Iterator[CsvRow]:
        self._counter = _CountingReader(self.stream)
        text = io.TextIOWrapper(
            io.BufferedReader(self._counter, buffer_size=1 << 16),
            encoding="utf-8-sig",
            newline="",
        )
        reader = csv.reader(text)
        line = 1
        try:
            header = next(reader, None)
            if header is None:
                self.problem(1, None, f"empty file: expected the header {self._wanted()}")
                return
            columns = self._header(header)
            if columns is None:
                return
            width = len(header)
            at = {name: columns.index(name) for name in columns}
            for fields in reader:
                line = reader.line_num
                if len(fields) != width:
                    if not fields or (len(fields) == 1 and not fields[0].strip()):
                        continue  # a blank line
                    self.problem(line, None, f"expected {width} fields, got {len(fields)}")
                    continue
                row = self._row(line, fields, at)
                if row is not None:
                    self.rows_read += 1
                    yield row
        except UnicodeDecodeError as exc:
            self.problem(self._counter.line_of(exc), None, f"not valid UTF-8 ({exc.reason})")
        except csv.Error as exc:
            self.problem(reader.line_num or line, None, f"not valid CSV: {exc}")

    def _wanted(self) -> str:
        return ",".join(self.required)

    def _header(self, header: list[str]) -> list[str] | None:
        columns = [h.strip().lower() for h in header]
        allowed = set(self.required) | set(self.optional)
        unknown = [c for c in columns if c not in allowed]
        missing = [c for c in self.required if c not in columns]
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if unknown or missing or repeated:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(missing))
            if unknown:
                parts.append("unknown " + ", ".join(repr(c) for c in unknown))
            if repeated:
                parts.append("repeated " + ", ".join(repeated))
            self.problem(1, None, f"bad header ({'; '.join(parts)}): expected {self._wanted()}")
            return None
        return columns

    def _row(self, line: int, fields: list[str], at: dict[str, int]) -> CsvRow | None:
        before = self.problem_count
        customer = None
        if "customer" in at:
            customer = fields[at["customer"]]
            if self.customers is None or customer not in self.customers:
                customer = customer.strip()
                if self.customers is not None and customer not in self.customers:
                    self.problem(line, "customer", f"unknown customer {shown(customer)}")
        kpi = fields[at["kpi_name"]]
        if self.kpis is None or kpi not in self.kpis:
            kpi = kpi.strip()
            if self.kpis is not None and kpi not in self.kpis:
                self.problem(line, "kpi_name", f"unknown KPI {shown(kpi)}")
        value = math.nan
        try:
            value = parse_number(fields[at["value"]])
        except ValueError as exc:
            self.problem(line, "value", str(exc))
        observed_at = None
        if "observed_at" in at:
            stamp = fields[at["observed_at"]]
            observed_at = self._times.get(stamp)
            if observed_at is None:
                try:
                    observed_at = parse_timestamp(stamp)
                except ValueError as exc:
                    self.problem(line, "observed_at", str(exc))
                else:
                    if len(self._times) >= _TIME_CACHE_SIZE:
                        self._times.clear()
                    self._times[stamp] = observed_at
        if self.problem_count > before:
            return None
        return CsvRow(line, customer, kpi, value, observed_at)

    def failure(self, *, writes: bool = True) -> InvalidInput:
        """The problems as one error line: the first few, then how many more; with
        ``writes`` (an import), that nothing was written."""
        shown = "; ".join(str(p) for p in self.problems)
        more = self.problem_count - len(self.problems)
        if more > 0:
            shown += f"; and {more} more problem{'s' if more != 1 else ''}"
        columns = {p.column for p in self.problems}
        if "customer" in columns:
            hint = "'kpictl seed' or 'kpictl customers add' creates customers"
        elif "kpi_name" in columns:
            hint = "KPI names are those of the catalog (kpis.yaml)"
        else:
            hint = (
                f"the header is {','.join(self.required)}; values are finite numbers, "
                "times ISO 8601 (UTC without a zone)"
            )
        return InvalidInput(f"{shown}; nothing was written" if writes else shown, hint=hint)


# -- importing -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: every data line is inserted, replaced or unchanged."""

    source: str
    rows: int
    inserted: int
    replaced: int  # an existing value overwritten, or an earlier line of the same file
    unchanged: int  # the same value was stored already

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "inserted": self.inserted,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
        }


def _staging_table() -> Table:
    """Rows as read, in file order (``ordinal``: the last line for a key wins)."""
    return Table(
        "kpictl_import_rows",
        MetaData(),
        Column("ordinal", Integer, nullable=False),
        Column("customer_id", Integer, nullable=False),
        Column("kpi_name", String(63), nullable=False),
        Column("observed_at", DateTime(timezone=True), nullable=False),
        Column("value", Double, nullable=False),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="drop",
    )


def import_csv(
    conn: Connection,
    stream: IO[bytes],
    *,
    display: str,
    customer_ids: Mapping[str, int],
    kpis: Collection[str],
    total_bytes: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Validate a CSV stream and merge it into kpi_observations, inside ``conn``'s transaction.

    Raises InvalidInput naming the first bad lines and columns; the caller's
    transaction is then rolled back and nothing is written.
    """
    reader = CsvReader(stream, display, customers=customer_ids, kpis=kpis)
    staging = _staging_table()
    staging.create(conn)
    if conn.dialect.name == "postgresql":
        batches = _batches(reader, COPY_CHUNK, total_bytes, on_progress)
        _copy_rows(conn, staging.name, _copy_text(batches, customer_ids))
    else:
        batches = _batches(reader, BATCH_SIZE, total_bytes, on_progress)
        _insert_rows(conn, staging, batches, customer_ids)
    if reader.problem_count:
        raise reader.failure()
    if conn.dialect.name == "postgresql":
        return _merge_postgresql(conn, staging, display=display, rows=reader.rows_read)
    result = _merge_sqlite(conn, staging, display=display, rows=reader.rows_read)
    staging.drop(conn)  # PostgreSQL drops it at commit
    return result


def _batches(
    reader: CsvReader,
    size: int,
    total_bytes: int | None,
    on_progress: ProgressCallback | None,
) -> Iterator[list[tuple[int, CsvRow]]]:
    """The valid rows with their ordinal in the file, ``size`` at a time. After the first
    bad line no more is yielded (the file is still read to the end, to count its
    problems), so nothing more is written."""
    batch: list[tuple[int, CsvRow]] = []
    for ordinal, row in enumerate(reader):
        if reader.problem_count:
            batch.clear()
            continue
        batch.append((ordinal, row))
        if len(batch) >= size:
            yield batch
            batch = []
            if on_progress is not None:
                on_progress(reader.bytes_read, total_bytes)
    if batch and not reader.problem_count:
        yield batch
    if on_progress is not None:
        on_progress(reader.bytes_read, total_bytes)


def _insert_rows(
    conn: Connection,
    staging: Table,
    batches: Iterator[list[tuple[int, CsvRow]]],
    ids: Mapping[str, int],
) -> None:
    """SQLite: an executemany INSERT per batch."""
    for batch in batches:
        conn.execute(
            insert(staging),
            [
                {
                    "ordinal": ordinal,
                    "customer_id": ids[row.customer],  # type: ignore[index]
                    "kpi_name": row.kpi_name,
                    "observed_at": row.observed_at,
                    "value": row.value,
                }
                for ordinal, row in batch
            ],
        )


def _copy_text(
    batches: Iterator[list[tuple[int, CsvRow]]], ids: Mapping[str, int]
) -> Iterator[str]:
    """PostgreSQL: each batch as COPY text. KPI names are catalog names ([a-z0-9_]) and
    times ISO 8601: nothing to escape."""
    iso: dict[datetime, str] = {}  # the few distinct times, formatted once
    for batch in batches:
        lines = []
        for ordinal, row in batch:
            at = row.observed_at
            stamp = iso.get(at)  # type: ignore[arg-type]
            if stamp is None:
                if len(iso) >= _TIME_CACHE_SIZE:
                    iso.clear()
                stamp = iso[at] = at.isoformat()  # type: ignore[union-attr,index]
            customer_id = ids[row.customer]  # type: ignore[index]
            lines.append(f"{ordinal}\t{customer_id}\t{row.kpi_name}\t{stamp}\t{row.value!r}\n")
        yield "".join(lines)


class _ChunkFile:
    """A file for ``copy_expert`` whose ``read`` returns the next chunk ('' at the end):
    the file is parsed while the server loads what was sent, in one COPY."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks

    def read(self, _size: int = -1) -> str:
        return next(self._chunks, "")


def _copy_rows(conn: Connection, table: str, chunks: Iterator[str]) -> None:
    """PostgreSQL: one COPY (text format) into the staging table, fed as it is read."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(
            f"COPY {table} (ordinal, customer_id, kpi_name, observed_at, value) FROM STDIN",
            _ChunkFile(chunks),
        )
    finally:
        cursor.close()


# One upsert through the unique index. (An anti-join INSERT … WHERE NOT EXISTS was
# planned as a nested loop over a sequential scan when the table started empty,
# rescanning every row it had inserted: quadratic, 75 s for 100,000 rows.)
_UPSERT = """
INSERT INTO kpi_observations (customer_id, kpi_name, observed_at, value)
SELECT customer_id, kpi_name, observed_at, value FROM {source}
ON CONFLICT (customer_id, kpi_name, observed_at) DO UPDATE SET value = EXCLUDED.value
WHERE kpi_observations.value IS DISTINCT FROM EXCLUDED.value
RETURNING (xmax = 0) AS is_new
"""
_COUNT_UPSERTED = (
    "SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) FROM up"
)
_CARDINALITY_VIOLATION = "21000"  # ON CONFLICT DO UPDATE cannot affect row a second time


def _merge_postgresql(conn: Connection, staging: Table, *, display: str, rows: int) -> ImportResult:
    """Staging → kpi_observations. Files seldom repeat a (customer, KPI, time): try the
    upsert straight from the staging table; PostgreSQL refuses it when a key comes twice
    (cardinality violation), and then the last line per key is picked first."""
    try:
        with conn.begin_nested():
            inserted, replaced = conn.exec_driver_sql(
                f"WITH up AS ({_UPSERT.format(source=staging.name)}) {_COUNT_UPSERTED}"
            ).one()
        distinct = rows
    except DBAPIError as exc:
        if getattr(exc.orig, "pgcode", None) != _CARDINALITY_VIOLATION:
            raise
        last_lines = (
            f"SELECT DISTINCT ON (customer_id, kpi_name, observed_at) * FROM {staging.name}"
            " ORDER BY customer_id, kpi_name, observed_at, ordinal DESC"
        )
        distinct, inserted, replaced = conn.exec_driver_sql(
            f"WITH last AS MATERIALIZED ({last_lines}),"
            f" up AS ({_UPSERT.format(source='last')})"
            f" SELECT (SELECT count(*) FROM last), u.* FROM ({_COUNT_UPSERTED}) u"
        ).one()
    return ImportResult(
        source=display,
        rows=rows,
        inserted=inserted,
        replaced=replaced + (rows - distinct),
        unchanged=distinct - inserted - replaced,
    )


def _merge_sqlite(conn: Connection, staging: Table, *, display: str, rows: int) -> ImportResult:
    """Staging → latest line per key → kpi_observations: update changed, insert new."""
    S, Obs = staging, kpi_observations
    key = (S.c.customer_id, S.c.kpi_name, S.c.observed_at)
    L = Table(
        "kpictl_import_latest",
        MetaData(),
        Column("customer_id", Integer, primary_key=True),
        Column("kpi_name", String(63), primary_key=True),
        Column("observed_at", DateTime(timezone=True), primary_key=True),
        Column("value", Double, nullable=False),
        prefixes=["TEMPORARY"],
    )
    L.create(conn)
    last_lines = select(func.max(S.c.ordinal)).group_by(*key)
    distinct = conn.execute(
        insert(L).from_select(
            ["customer_id", "kpi_name", "observed_at", "value"],
            select(*key, S.c.value).where(S.c.ordinal.in_(last_lines)),
        )
    ).rowcount
    same_key = and_(
        Obs.c.customer_id == L.c.customer_id,
        Obs.c.kpi_name == L.c.kpi_name,
        Obs.c.observed_at == L.c.observed_at,
    )
    unchanged = conn.execute(
        select(func.count()).select_from(L.join(Obs, same_key)).where(Obs.c.value == L.c.value)
    ).scalar_one()
    replaced = conn.execute(
        update(Obs)
        .where(exists().where(same_key, L.c.value != Obs.c.value))
        .values(value=select(L.c.value).where(same_key).scalar_subquery())
    ).rowcount
    inserted = conn.execute(
        insert(Obs).from_select(
            ["customer_id", "kpi_name", "observed_at", "value"],
            select(L.c.customer_id, L.c.kpi_name, L.c.observed_at, L.c.value).where(
                ~exists().where(same_key)
            ),
        )
    ).rowcount
    L.drop(conn)
    return ImportResult(
        source=display,
        rows=rows,
        inserted=inserted,
        replaced=replaced + (rows - distinct),
        unchanged=unchanged,
    )


# -- reading -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    customer: str
    kpi_name: str
    observed_at: datetime
    value: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "kpi_name": self.kpi_name,
            "observed_at": iso(self.observed_at),
            "value": self.value,
        }


def observations_of(
    conn: Connection, customer_id: int, *, kpi: str | None = None
) -> Iterator[Observation]:
    """One customer's observations, by KPI then time (streamed)."""
    Obs = kpi_observations
    query = (
        select(customers.c.slug, Obs.c.kpi_name, Obs.c.observed_at, Obs.c.value)
        .join_from(Obs, customers, customers.c.customer_id == Obs.c.customer_id)
        .where(Obs.c.customer_id == customer_id)
        .order_by(Obs.c.kpi_name, Obs.c.observed_at)
    )
    if kpi is not None:
        query = query.where(Obs.c.kpi_name == kpi)
    for row in conn.execute(query.execution_options(yield_per=5000)):
        yield Observation(row.slug, row.kpi_name, as_utc(row.observed_at), row.value)


def _latest_query(at: datetime, customer_id: int | None = None, *, times: bool = True) -> Any:
    """The latest observation of each (customer, KPI) at or before ``at`` (without its
    time when not ``times``)."""
    Obs = kpi_observations
    newest = select(
        Obs.c.customer_id, Obs.c.kpi_name, func.max(Obs.c.observed_at).label("observed_at")
    ).where(Obs.c.observed_at <= as_utc(at))
    if customer_id is not None:
        newest = newest.where(Obs.c.customer_id == customer_id)
    newest_sq = newest.group_by(Obs.c.customer_id, Obs.c.kpi_name).subquery("newest")
    when = [Obs.c.observed_at] if times else []
    return (
        select(Obs.c.customer_id, Obs.c.kpi_name, *when, Obs.c.value)
        .join_from(
            Obs,
            newest_sq,
            and_(
                Obs.c.customer_id == newest_sq.c.customer_id,
                Obs.c.kpi_name == newest_sq.c.kpi_name,
                Obs.c.observed_at == newest_sq.c.observed_at,
            ),
        )
        .order_by(Obs.c.customer_id, Obs.c.kpi_name)
    )


def latest_values(conn: Connection, customer_id: int, at: datetime) -> dict[str, InputValue]:
    """One customer's values: the latest observation of each KPI at or before ``at``."""
    return {
        row.kpi_name: InputValue(row.value, "observation", as_utc(row.observed_at))
        for row in conn.execute(_latest_query(at, customer_id))
    }


def latest_values_query(conn: Connection, at: datetime) -> Any:
    """Every customer's latest values at or before ``at``: (customer_id, kpi_name,
    value), by customer id then KPI; no times.

    On PostgreSQL one DISTINCT ON (the newest row of each pair, in one pass over the
    sorted rows); elsewhere the newest time of each pair, joined back.
    """
    if conn.dialect.name != "postgresql":
        return _latest_query(at, times=False)
    Obs = kpi_observations
    keys = (Obs.c.customer_id, Obs.c.kpi_name)
    query = (
        select(*keys, Obs.c.value)
        .where(Obs.c.observed_at <= as_utc(at))
        .order_by(*keys, Obs.c.observed_at.desc())
    )
    try:  # SQLAlchemy 2.1
        from sqlalchemy.dialects.postgresql import distinct_on
    except ImportError:  # pragma: no cover - SQLAlchemy 2.0
        return query.distinct(*keys)
    return query.ext(distinct_on(*keys))


def latest_values_all(conn: Connection, at: datetime) -> Any:
    """:func:`latest_values_query`'s rows, streamed (a result: close it when it is not
    read to the end)."""
    return conn.execute(latest_values_query(conn, at).execution_options(yield_per=10_000))
