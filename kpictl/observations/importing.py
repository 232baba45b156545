"""Importing KPI observations: CSV checked strictly, loaded in bulk, merged.

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

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
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

from kpictl import store
from kpictl.db import engine as db
from kpictl.db.schema import kpi_observations
from kpictl.errors import InvalidInput
from kpictl.observations.csvread import _TIME_CACHE_SIZE, CsvReader, CsvRow, ProgressCallback
from kpictl.observations.values import known_kpis
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings

BATCH_SIZE = 10_000  # rows per INSERT into the staging table (SQLite)
COPY_CHUNK = 5_000  # rows per piece of the one streamed COPY (PostgreSQL)


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


def import_file(
    settings: Settings,
    ranges: RangeDir,
    source: Path | IO[bytes],
    *,
    display: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
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
            db.open_database(settings, lock_timeout=lock_timeout, write=True) as engine,
            db.write_transaction(engine, lock_timeout=lock_timeout) as conn,
        ):
            ids = {slug: c.customer_id for slug, c in store.customers_by_slug(conn).items()}
            return import_csv(
                conn,
                stream,
                display=name,
                customer_ids=ids,
                kpis=known_kpis(ranges, conn),
                total_bytes=total,
                on_progress=on_progress,
            )
    finally:
        if isinstance(source, Path):
            stream.close()
