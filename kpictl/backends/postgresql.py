"""PostgreSQL (15 and later): COPY for bulk writes, advisory locks, REPEATABLE READ
snapshots, row-level security under the tenant role, and set-based statements that
keep rows on the server."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    URL,
    Connection,
    Engine,
    Table,
    and_,
    case,
    create_engine,
    event,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from kpictl.backends.base import Backend, JsonText, MergeCounts, StagedBatch

if TYPE_CHECKING:
    from kpictl.observations.csvread import CsvRow
from kpictl.db.schema import kpi_observations, kpi_reference_ranges
from kpictl.db.tenant import CUSTOMER_SETTING, TENANT_ROLE
from kpictl.rangefiles.model import BOUND_COLUMNS
from kpictl.times import as_utc

CONNECT_TIMEOUT_SECONDS = 5

# Keys of PostgreSQL advisory locks (arbitrary, fixed): one serialises writers of range
# files, one serialises schema migrations.
SEED_LOCK_KEY = 0x6B7069_0001
MIGRATE_LOCK_KEY = 0x6B7069_0002

_TIME_CACHE_SIZE = 65_536


class PostgreSQLBackend(Backend):
    name = "postgresql"
    supports_rls = True
    stage_batch = 5_000  # rows per piece of the one streamed COPY
    schema_known = True
    nulls_not_distinct = True
    array_aggregates = True

    def driver_url(self, url: URL) -> URL:
        """Plain ``postgresql://`` means psycopg2."""
        if url.drivername == "postgresql":
            return url.set(drivername="postgresql+psycopg2")
        return url

    def create_engine(self, url: URL, *, lock_seconds: float) -> Engine:
        return create_engine(
            url,
            poolclass=NullPool,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "kpictl"},
        )

    def serving_engine(
        self,
        url: URL,
        *,
        lock_seconds: float,
        pool_size: int,
        max_overflow: int,
        pool_timeout: float,
    ) -> Engine:
        """A pool of read-only REPEATABLE READ sessions."""
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "application_name": "kpictl-serve",
            },
        )

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            # psycopg2 puts these on each BEGIN: no extra round trip per request
            dbapi_connection.set_session(isolation_level="REPEATABLE READ", readonly=True)

        return engine

    # -- transactions and locks ---------------------------------------------------------

    def read_options(self) -> dict[str, Any]:
        # its default READ COMMITTED takes a snapshot per statement
        return {"isolation_level": "REPEATABLE READ"}

    def write_lock(self, conn: Connection, seconds: float) -> None:
        """A transaction-scoped advisory lock, waited for at most ``seconds``."""
        from kpictl.db.engine import lock_not_obtained

        key = {"k": SEED_LOCK_KEY}
        if conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), key).scalar():
            return
        if seconds <= 0:  # lock_timeout = 0 would mean "wait forever" to PostgreSQL
            raise lock_not_obtained(seconds)
        self.set_lock_timeout(conn, seconds)
        try:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), key)
        except sa_exc.OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) == "55P03":
                raise lock_not_obtained(seconds) from exc
            raise
        conn.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")

    def set_lock_timeout(self, conn: Connection, seconds: float) -> None:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{max(1, int(seconds * 1000))}ms'")

    def without_jit(self, conn: Connection) -> None:
        conn.exec_driver_sql("SET LOCAL jit = off")

    @contextmanager
    def migration_lock(self, conn: Connection, seconds: float) -> Iterator[None]:
        """A session advisory lock; no wait is unbounded: neither for that lock nor for a
        table lock a migration needs while another session reads the table."""
        conn.exec_driver_sql(f"SET lock_timeout = '{int(seconds * 1000)}ms'")
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATE_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATE_LOCK_KEY})
            conn.commit()

    # -- row-level security -------------------------------------------------------------

    def enter_tenant(self, conn: Connection, customer_id: int | None) -> None:
        conn.exec_driver_sql(f"SET LOCAL ROLE {TENANT_ROLE}")
        conn.execute(
            text("SELECT set_config(:name, :value, true)"),
            {"name": CUSTOMER_SETTING, "value": "" if customer_id is None else str(customer_id)},
        )

    def leave_tenant(self, conn: Connection) -> None:
        conn.execute(text("SELECT set_config(:name, '', true)"), {"name": CUSTOMER_SETTING})
        conn.exec_driver_sql("SET LOCAL ROLE NONE")

    def filtered_by_rls(
        self, conn: Connection, tables: Sequence[str]
    ) -> tuple[str, list[str]] | None:
        row = conn.execute(_FILTERED_FOR_ME, {"tables": list(tables)}).one()
        return str(row.me), list(row.tables or [])

    def unique_nulls_not_distinct(self, conn: Connection, table: str, constraint: str) -> bool:
        return bool(
            conn.execute(
                text(
                    "SELECT ix.indnullsnotdistinct FROM pg_constraint con "
                    "JOIN pg_index ix ON ix.indexrelid = con.conindid "
                    "WHERE con.conrelid = to_regclass(:t) AND con.conname = :n"
                ),
                {"t": table, "n": constraint},
            ).scalar()
        )

    # -- catalog -----------------------------------------------------------------------

    def invalid_foreign_keys(self, conn: Connection, tables: Sequence[str]) -> set[tuple[str, str]]:
        found = conn.execute(_NOT_VALID, {"tables": list(tables)})
        return {(r.table_name, r.name) for r in found}

    # -- scoring -----------------------------------------------------------------------

    def compiled_ranges_sql(self) -> Any:
        return compiled_ranges_sql()

    # -- bulk writes ---------------------------------------------------------------------

    def bulk_insert(
        self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert rows (all with the same keys) in one bulk operation.

        PostgreSQL: COPY FROM STDIN, several times faster than a multi-row INSERT. Elsewhere:
        one executemany INSERT (SQLAlchemy batches it into multi-row statements).
        """
        if not rows:
            return
        columns = list(rows[0])
        # column by column: each column's cells are formatted by one comprehension
        cells = [_copy_cells(table.c[c].type, [row[c] for row in rows]) for c in columns]
        buffer = io.StringIO()
        buffer.writelines(line + "\n" for line in map("\t".join, zip(*cells, strict=True)))
        del cells
        buffer.seek(0)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            quoted = ", ".join(f'"{c}"' for c in columns)
            cursor.copy_expert(f'COPY "{table.name}" ({quoted}) FROM STDIN', buffer)
        finally:
            cursor.close()

    # -- observations ------------------------------------------------------------------

    def stage_observations(
        self,
        conn: Connection,
        staging: Table,
        batches: Iterator[StagedBatch],
        ids: Mapping[str, int],
    ) -> None:
        """One COPY (text format) into the staging table, fed as the file is read."""
        _copy_rows(conn, staging.name, _copy_text(batches, ids))

    def merge_observations(self, conn: Connection, staging: Table, rows: int) -> MergeCounts:
        return _merge(conn, staging, rows)

    def latest_values_query(self, at: datetime) -> Any:
        """One DISTINCT ON: the newest row of each pair, in one pass over the sorted rows."""
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

    # -- seeding -----------------------------------------------------------------------

    def unconfirmed_scopes(
        self, conn: Connection, candidates: Mapping[int | None, tuple[str, str | None]]
    ) -> set[int | None] | None:
        """One statement; no stored row or revision content reaches Python."""
        ids = list(candidates)
        found = conn.execute(
            _UNCONFIRMED_SCOPES,
            {
                "ids": ids,
                "shas": [candidates[i][0] for i in ids],
                "catalogs": [candidates[i][1] for i in ids],
                "defaults": None in candidates,
            },
        )
        return {None if scope == 0 else scope for (scope,) in found}


def compiled_ranges_sql() -> Any:
    """An own range row as :data:`kpictl.scoring.bands.CompiledRange`, made by the database (the
    float8[] of (weight, min and max of each band), as ``compile_row``)."""
    from sqlalchemy.dialects.postgresql import array

    R = kpi_reference_ranges
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


# the tables whose rows row-level security filters for the connecting role
_FILTERED_FOR_ME = text(
    """
    SELECT current_user AS me,
           array_agg(t ORDER BY t) FILTER (WHERE row_security_active(to_regclass(t))) AS tables
    FROM unnest(CAST(:tables AS text[])) AS t
    """
)

_NOT_VALID = text(
    """
    SELECT conrelid::regclass::text AS table_name, conname::text AS name
    FROM pg_constraint
    WHERE contype = 'f' AND NOT convalidated
      AND conrelid IN (SELECT to_regclass(name) FROM unnest(CAST(:tables AS text[])) AS name)
    """
)

# PostgreSQL: of the scopes whose files were not parsed (their bytes and the catalog's
# hashed as recorded), those that cannot be confirmed unchanged: the latest revision is
# missing or records other hashes, or the stored rows or customer name differ from the
# revision's content (edited by hand, or rows kept from an earlier file). Numbers are
# compared as float8: the revision's JSON holds each float's shortest repr, which
# float8in reads back exactly. Scope 0 stands for the defaults (customer_id NULL).
_UNCONFIRMED_SCOPES = text(
    f"""
WITH cand AS (
    SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:shas AS text[]),
                         CAST(:catalogs AS text[])) AS x(customer_id, sha256, catalog_sha256)
),
rev AS (
    SELECT DISTINCT ON (customer_id) customer_id, sha256, catalog_sha256,
           content::jsonb AS content
    FROM range_revisions
    WHERE customer_id IN (SELECT customer_id FROM cand) OR (:defaults AND customer_id IS NULL)
    ORDER BY customer_id, revision_id DESC
),
want AS (
    SELECT COALESCE(rev.customer_id, 0) AS scope, r.key AS kpi_name, r.value AS v
    FROM rev, jsonb_each(rev.content -> 'ranges') AS r
),
have AS (
    SELECT COALESCE(customer_id, 0) AS scope, kpi_name, {", ".join(BOUND_COLUMNS)},
           weight, playbook
    FROM kpi_reference_ranges
    WHERE customer_id IN (SELECT customer_id FROM cand) OR (:defaults AND customer_id IS NULL)
)
SELECT COALESCE(w.scope, h.scope) AS scope
FROM want w FULL JOIN have h ON h.scope = w.scope AND h.kpi_name = w.kpi_name
WHERE w.kpi_name IS NULL OR h.kpi_name IS NULL
   OR {" OR ".join(f"(w.v ->> '{c}')::float8 IS DISTINCT FROM h.{c}" for c in BOUND_COLUMNS)}
   OR (w.v ->> 'weight')::float8 IS DISTINCT FROM COALESCE(h.weight, 1.0)
   OR (w.v ->> 'playbook') IS DISTINCT FROM h.playbook
UNION
SELECT rev.customer_id
FROM rev JOIN customers c ON c.customer_id = rev.customer_id
WHERE (rev.content ->> 'name') IS DISTINCT FROM c.name
UNION
SELECT COALESCE(x.customer_id, 0)
FROM cand x LEFT JOIN rev ON COALESCE(rev.customer_id, 0) = COALESCE(x.customer_id, 0)
WHERE rev.sha256 IS DISTINCT FROM x.sha256
   OR rev.catalog_sha256 IS DISTINCT FROM x.catalog_sha256
"""
)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_cells(type_: Any, values: list[Any]) -> list[str]:
    """One column's values in COPY's text format (the type is looked at once per column:
    a COPY of a million cells should not test every cell's type)."""
    python_type = None if isinstance(type_, JSON) else type_.python_type
    if python_type in (int, float):
        return ["\\N" if v is None else repr(v) for v in values]
    format_cell = _copy_formatter(type_)
    if python_type is None:
        return [
            v.translate(_COPY_ESCAPES) if isinstance(v, JsonText) else format_cell(v)
            for v in values
        ]
    # text and times: few distinct values (KPI names, one updated_at), each formatted once
    seen: dict[Any, str] = {}
    return [seen[v] if v in seen else seen.setdefault(v, format_cell(v)) for v in values]


def _copy_formatter(type_: Any) -> Callable[[Any], str]:
    """A function that writes one value of a column in COPY's text format (chosen once
    per column: a COPY of a million cells should not test every cell's type)."""
    python_type = None if isinstance(type_, JSON) else type_.python_type

    def text_cell(value: Any) -> str:
        return "\\N" if value is None else str(value).translate(_COPY_ESCAPES)

    def number_cell(value: Any) -> str:
        return "\\N" if value is None else repr(value)

    def json_cell(value: Any) -> str:
        if value is None:
            return "\\N"
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        return text.translate(_COPY_ESCAPES)

    def datetime_cell(value: Any) -> str:
        return "\\N" if value is None else value.isoformat()

    if python_type is None:
        return json_cell
    if python_type in (int, float):
        return number_cell
    if python_type is datetime:
        return datetime_cell
    return text_cell


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


def _merge(conn: Connection, staging: Table, rows: int) -> MergeCounts:
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
    return MergeCounts(distinct, inserted, replaced, distinct - inserted - replaced)
