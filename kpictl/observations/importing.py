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
)

from kpictl import store
from kpictl.backends import backend_of
from kpictl.backends.postgresql import PostgreSQLBackend
from kpictl.backends.sqlite import SQLiteBackend
from kpictl.db import engine as db
from kpictl.errors import InvalidInput
from kpictl.observations.csvread import CsvReader, CsvRow, ProgressCallback
from kpictl.observations.values import known_kpis
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings

BATCH_SIZE = SQLiteBackend.stage_batch  # rows per INSERT into the staging table (SQLite)
COPY_CHUNK = PostgreSQLBackend.stage_batch  # rows per piece of the one streamed COPY


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
        postgresql_on_commit="drop",  # SQLite's backend drops it after the merge
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
    backend = backend_of(conn)
    batches = _batches(reader, backend.stage_batch, total_bytes, on_progress)
    backend.stage_observations(conn, staging, batches, customer_ids)
    if reader.problem_count:
        raise reader.failure()
    rows = reader.rows_read
    merged = backend.merge_observations(conn, staging, rows)
    return ImportResult(
        source=display,
        rows=rows,
        inserted=merged.inserted,
        replaced=merged.replaced + (rows - merged.distinct),  # and earlier lines of the file
        unchanged=merged.unchanged,
    )


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
