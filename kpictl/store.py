"""Reads and bulk writes against the kpictl schema. Set-based: no query per customer.

Every function takes an open :class:`~sqlalchemy.Connection` inside the caller's
transaction; none commits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy import update as sa_update

from kpictl.backends import JsonText as JsonText  # seeding.apply writes revisions with it
from kpictl.backends import backend_of
from kpictl.db.schema import customers, kpi_reference_ranges, range_revisions
from kpictl.db.tenant import tenant_scope
from kpictl.errors import UnknownCustomer
from kpictl.rangefiles.model import (
    BOUND_COLUMNS,
    RANGE_COLUMNS,
    KpiRange,
    content_sha256,
    normalised_content,
)
from kpictl.seeding.plan import RecordedRevision, StoredRange
from kpictl.times import utcnow

R = kpi_reference_ranges
_RANGE_VALUE_COLUMNS = [R.c[c] for c in RANGE_COLUMNS]


# -- customers -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: int
    slug: str
    name: str
    created_at: datetime | None = None


def customers_by_slug(
    conn: Connection, slugs: Collection[str] | None = None
) -> dict[str, Customer]:
    """Customers keyed by slug: the given ones that exist, or all of them (one query)."""
    query = select(
        customers.c.customer_id, customers.c.slug, customers.c.name, customers.c.created_at
    )
    if slugs is None:
        return {row.slug: Customer(*row) for row in conn.execute(query)}
    if not slugs:
        return {}
    wanted = set(slugs)
    if len(wanted) <= MAX_IN_LIST:
        query = query.where(customers.c.slug.in_(sorted(wanted)))
    return {row.slug: Customer(*row) for row in conn.execute(query) if row.slug in wanted}


def get_customer(conn: Connection, slug: str) -> Customer:
    """The customer with this slug; UnknownCustomer (exit 2) when there is none."""
    found = customers_by_slug(conn, [slug]).get(slug)
    if found is None:
        raise UnknownCustomer(
            f"unknown customer {slug!r}", hint="'kpictl customers list' shows the customers"
        )
    return found


def create_customers(conn: Connection, new: Mapping[str, str]) -> None:
    """Insert customers (slug → display name) in one bulk statement."""
    now = utcnow()
    bulk_insert(
        conn,
        customers,
        [{"slug": slug, "name": name, "created_at": now} for slug, name in new.items()],
    )


def rename_customers(conn: Connection, names: Mapping[str, str]) -> None:
    if names:
        conn.execute(
            sa_update(customers).where(customers.c.slug == bindparam("b_slug")),
            [{"b_slug": slug, "name": name} for slug, name in names.items()],
        )


def delete_customer(conn: Connection, customer_id: int) -> None:
    conn.execute(delete(customers).where(customers.c.customer_id == customer_id))


def customer_range_counts(conn: Connection) -> dict[int, int]:
    query = (
        select(R.c.customer_id, func.count())
        .where(R.c.customer_id.is_not(None))
        .group_by(R.c.customer_id)
    )
    return {cid: n for cid, n in conn.execute(query)}


# -- ranges --------------------------------------------------------------------------


def stored_ranges(
    conn: Connection, customer_ids: Iterable[int | None]
) -> dict[int | None, dict[str, StoredRange]]:
    """Rows of the given scopes (None: the system defaults), keyed by scope then KPI."""
    ids = set(customer_ids)
    out: dict[int | None, dict[str, StoredRange]] = {i: {} for i in ids}
    scope = scope_filter(R.c.customer_id, ids)
    if scope is None:
        return out
    query = select(R.c.range_id, R.c.customer_id, R.c.kpi_name, *_RANGE_VALUE_COLUMNS).where(scope)
    if len(ids) > MAX_IN_LIST:  # every row of the table: streamed, not held twice
        query = query.execution_options(yield_per=10_000)
    result = conn.execute(query)
    for range_id, customer_id, kpi_name, *values in result:
        rows = out.get(customer_id)
        if rows is not None:
            rows[kpi_name] = StoredRange(
                range_id, kpi_name, dict(zip(RANGE_COLUMNS, values, strict=True))
            )
    return out


# Past this many values an IN list costs more than reading the table (and SQLite caps
# the number of bound parameters): read all rows and filter them here instead.
MAX_IN_LIST = 1000


def scope_filter(column: Any, ids: Collection[int | None]) -> ColumnElement[bool] | None:
    """WHERE for rows of the given scopes (None: defaults); None when there are none.

    Past MAX_IN_LIST customers it admits every customer's rows: callers keep only the
    scopes they asked for."""
    real_ids = sorted(i for i in ids if i is not None)
    clauses = []
    if len(real_ids) > MAX_IN_LIST:
        clauses.append(column.is_not(None))
    elif real_ids:
        clauses.append(column.in_(real_ids))
    if None in ids:
        clauses.append(column.is_(None))
    return or_(*clauses) if clauses else None


@dataclass(frozen=True, slots=True)
class RangeRow:
    """A range as shown by ``list``: the row, its owner and where it comes from."""

    customer: str | None  # owner slug; None for defaults and the defaults file
    kpi_name: str
    range: KpiRange
    source: str  # "customer" | "default" | "file"

    def as_dict(self) -> dict[str, Any]:
        row = self.range.row()
        return {"customer": self.customer, "kpi_name": self.kpi_name, **row, "source": self.source}


def list_stored(
    conn: Connection,
    *,
    customer_id: int | None = None,
    defaults_only: bool = False,
    kpi: str | None = None,
) -> list[RangeRow]:
    """Stored rows: all of them, the defaults only, or one customer's own rows."""
    query = (
        select(customers.c.slug, R.c.kpi_name, *_RANGE_VALUE_COLUMNS)
        .select_from(R.outerjoin(customers, customers.c.customer_id == R.c.customer_id))
        .order_by(customers.c.slug.is_not(None), customers.c.slug, R.c.kpi_name)
    )
    if defaults_only:
        query = query.where(R.c.customer_id.is_(None))
    elif customer_id is not None:
        query = query.where(R.c.customer_id == customer_id)
    if kpi is not None:
        query = query.where(R.c.kpi_name == kpi)
    return [
        RangeRow(
            row.slug,
            row.kpi_name,
            KpiRange.from_row(row.kpi_name, row),
            "customer" if row.slug is not None else "default",
        )
        for row in conn.execute(query)
    ]


def effective_range_filter(customer_id: ColumnElement[Any] | int) -> ColumnElement[bool]:
    """Which ``kpi_reference_ranges`` rows make up a customer's effective ranges.

    The customer's own rows, and the system defaults of KPIs it does not override.
    ``customer_id`` is a value, or a column to compute every customer's view in one
    query (``verify-isolation`` checks this very predicate).
    """
    own = R.alias("own")
    return or_(
        R.c.customer_id == customer_id,
        and_(
            R.c.customer_id.is_(None),
            ~exists().where(own.c.customer_id == customer_id, own.c.kpi_name == R.c.kpi_name),
        ),
    )


@functools.cache
def _effective_query(range_filter: Callable[[Any], ColumnElement[bool]], one_kpi: bool) -> Any:
    """One customer's effective rows (bound: b_customer_id, b_kpi), built once per
    filter: a server asks for it on every request. (The filter is an argument so that
    a test replacing ``effective_range_filter`` gets a statement of its own.)"""
    query = select(R.c.customer_id, R.c.kpi_name, *_RANGE_VALUE_COLUMNS).where(
        range_filter(bindparam("b_customer_id", type_=Integer))
    )
    if one_kpi:
        query = query.where(R.c.kpi_name == bindparam("b_kpi"))
    return query


def effective_ranges(
    conn: Connection,
    customer: Customer,
    *,
    file_defaults: Mapping[str, KpiRange] | None = None,
    kpi: str | None = None,
) -> list[RangeRow]:
    """The ranges that apply to one customer: exactly one row per KPI, sorted by KPI.

    Per KPI: the customer's own row, else the system default row, else the defaults
    file's range (source ``file``). One query; it can only return the customer's own
    rows and the defaults, never another customer's. On PostgreSQL it runs under the
    tenant role, so row-level security enforces that too.
    """
    params: dict[str, Any] = {"b_customer_id": customer.customer_id}
    if kpi is not None:
        params["b_kpi"] = kpi
    with tenant_scope(conn, customer.customer_id):
        result = conn.execute(
            _effective_query(effective_range_filter, kpi is not None), params
        ).all()
    rows: dict[str, RangeRow] = {}
    for row in result:
        if row.customer_id is not None and row.customer_id != customer.customer_id:
            raise AssertionError("effective_ranges read a foreign row")  # defence in depth
        is_own = row.customer_id == customer.customer_id
        rows[row.kpi_name] = RangeRow(
            customer.slug if is_own else None,
            row.kpi_name,
            KpiRange.from_row(row.kpi_name, row),
            "customer" if is_own else "default",
        )
    for name, kpi_range in (file_defaults or {}).items():
        if name not in rows and (kpi is None or name == kpi):
            rows[name] = RangeRow(None, name, kpi_range, "file")
    return [rows[k] for k in sorted(rows)]


# -- revisions -----------------------------------------------------------------------


RV = range_revisions


def newest_revisions(scope: ColumnElement[bool] | None = None) -> Select[Any]:
    """The revision_id of the latest revision of each scope (of those ``scope`` admits):
    the one definition of "latest revision" that every reader of the log uses."""
    newest = select(func.max(RV.c.revision_id)).group_by(RV.c.customer_id)
    return newest if scope is None else newest.where(scope)


def latest_revision_rows(
    conn: Connection, customer_ids: Iterable[int | None], *columns: Any
) -> dict[int | None, Row[Any]]:
    """``columns`` of the newest revision of each given scope (None: defaults), keyed by
    scope: one query."""
    ids = set(customer_ids)
    scope = scope_filter(RV.c.customer_id, ids)
    if scope is None:
        return {}
    query = select(RV.c.customer_id, *columns).where(RV.c.revision_id.in_(newest_revisions(scope)))
    return {row.customer_id: row for row in conn.execute(query) if row.customer_id in ids}


def latest_revisions(
    conn: Connection, customer_ids: Iterable[int | None]
) -> dict[int | None, RecordedRevision]:
    """The newest revision of each given scope (None: defaults), in one query."""
    rows = latest_revision_rows(
        conn,
        customer_ids,
        RV.c.version,
        RV.c.sha256,
        RV.c.content_sha256,
        RV.c.catalog_sha256,
        RV.c.scoring,
    )
    return {
        cid: RecordedRevision(
            row.version, row.sha256, row.content_sha256, row.catalog_sha256, row.scoring
        )
        for cid, row in rows.items()
    }


def recorded_file_hashes(
    conn: Connection, slugs: Collection[str] | None, *, defaults: bool
) -> dict[str | None, tuple[str, str | None]]:
    """(sha256, catalog_sha256) of the latest revision of each scope, keyed by slug
    (None: defaults); ``slugs`` None means every customer. One query."""
    query = (
        select(customers.c.slug, RV.c.sha256, RV.c.catalog_sha256)
        .select_from(RV.outerjoin(customers, customers.c.customer_id == RV.c.customer_id))
        .where(RV.c.revision_id.in_(newest_revisions()))
    )
    wanted = None if slugs is None else set(slugs)
    if wanted is not None and len(wanted) <= MAX_IN_LIST:
        query = query.where(or_(customers.c.slug.in_(sorted(wanted)), RV.c.customer_id.is_(None)))
    out: dict[str | None, tuple[str, str | None]] = {}
    for slug, sha, catalog_sha in conn.execute(query):
        if (slug is None and defaults) or (slug is not None and (wanted is None or slug in wanted)):
            out[slug] = (sha, catalog_sha)
    return out


def stored_content_sha256(
    slug: str | None, name: str | None, scoring: Any, rows: Mapping[str, StoredRange]
) -> str:
    """The content sha256 of what the database holds for a scope, normalised exactly as
    a range file's: equal to the recorded one when nobody edited the rows by hand."""
    # KpiRange.row() normalisation, inlined: this runs for every scope of a seed
    ranges = {}
    for kpi, stored in rows.items():
        row = stored.row
        normal = {c: None if row[c] is None else float(row[c]) + 0.0 for c in BOUND_COLUMNS}
        normal["weight"] = 1.0 if row["weight"] is None else float(row["weight"])
        normal["playbook"] = row["playbook"]
        ranges[kpi] = normal
    content = normalised_content(slug, name, scoring, ())
    content["ranges"] = ranges
    return content_sha256(content)


def unconfirmed_scopes(
    conn: Connection, candidates: Mapping[int | None, tuple[str, str | None]]
) -> set[int | None]:
    """Of the scopes given as {customer id (None: defaults): (file sha256, catalog
    sha256)}, those that cannot be confirmed unchanged since their latest revision:
    the latest revision is missing or records other hashes, or the stored rows or the
    customer's name differ from the revision's content (edited by hand, or rows kept
    from an earlier file). The backend may do it in the database (PostgreSQL: one
    statement); otherwise the stored rows are hashed here."""
    if not candidates:
        return set()
    found = backend_of(conn).unconfirmed_scopes(conn, candidates)
    return _unconfirmed_scopes_here(conn, candidates) if found is None else found


def _unconfirmed_scopes_here(
    conn: Connection, candidates: Mapping[int | None, tuple[str, str | None]]
) -> set[int | None]:
    """unconfirmed_scopes elsewhere (SQLite): the stored rows hashed here, as a file's
    content, and compared with the latest revision's."""
    recorded = latest_revisions(conn, candidates)
    stored = stored_ranges(conn, candidates)
    scope = scope_filter(customers.c.customer_id, [i for i in candidates if i is not None])
    names: dict[int | None, tuple[str | None, str | None]] = {None: (None, None)}
    if scope is not None:
        query = select(customers.c.customer_id, customers.c.slug, customers.c.name).where(scope)
        names.update((cid, (slug, name)) for cid, slug, name in conn.execute(query))

    def unedited(cid: int | None, sha: str, catalog_sha: str | None) -> bool:
        rec = recorded.get(cid)
        if rec is None or (rec.sha256, rec.catalog_sha256) != (sha, catalog_sha):
            return False
        slug, name = names.get(cid, (None, None))
        return rec.content_sha256 == stored_content_sha256(slug, name, rec.scoring, stored[cid])

    return {cid for cid, hashes in candidates.items() if not unedited(cid, *hashes)}


# -- bulk writes ---------------------------------------------------------------------


def bulk_insert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows (all with the same keys) in one bulk operation (PostgreSQL: COPY FROM
    STDIN, several times faster than a multi-row INSERT)."""
    backend_of(conn).bulk_insert(conn, table, rows)
