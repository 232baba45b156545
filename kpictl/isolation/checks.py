"""The set-based data checks of ``verify-isolation``: duplicates, orphans and every
customer's effective view, each over all customers in one statement.

A statement returns only what is wrong: a clean database sends back next to nothing,
so memory stays flat as customers grow.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, String, and_, case, cast, func, literal, or_, select, union_all

from kpictl import store
from kpictl.db.schema import customers, health_scores, kpi_observations
from kpictl.db.schema import kpi_reference_ranges as R
from kpictl.isolation.report import PK, CheckResult, Violation, ids_text, who

# -- unique_customer_kpi, unique_default_kpi: one statement ---------------------------


def unique_checks(conn: Connection, ids: list[int] | None) -> list[CheckResult]:
    # GROUP BY puts the NULLs (defaults) in one group: the same statement finds both
    # kinds of duplicate. The grouping reads only the pair's index; the row ids are
    # fetched for the pairs seen twice alone, as one string (string_agg on PostgreSQL,
    # group_concat on SQLite).
    pairs = (
        select(R.c.customer_id, R.c.kpi_name)
        .group_by(R.c.customer_id, R.c.kpi_name)
        .having(func.count() > 1)
    )
    if ids is not None:
        pairs = pairs.where(or_(R.c.customer_id.is_(None), R.c.customer_id.in_(ids)))
    twice = pairs.subquery("twice")
    row = R.alias("row")
    rows_of_pair = (
        select(func.aggregate_strings(cast(row.c.range_id, String), ","))
        .where(
            row.c.kpi_name == twice.c.kpi_name,
            or_(
                row.c.customer_id == twice.c.customer_id,
                and_(row.c.customer_id.is_(None), twice.c.customer_id.is_(None)),
            ),
        )
        .scalar_subquery()
    )
    query = select(
        twice.c.customer_id, twice.c.kpi_name, rows_of_pair.label("row_ids"), customers.c.slug
    ).select_from(twice.outerjoin(customers, customers.c.customer_id == twice.c.customer_id))
    groups = sorted(
        conn.execute(query),
        key=lambda r: (r.customer_id if r.customer_id is not None else -1, r.kpi_name),
    )
    customer_dupes: list[Violation] = []
    default_dupes: list[Violation] = []
    for group in groups:
        customer_id, kpi_name = group.customer_id, group.kpi_name
        row_ids = tuple(sorted(int(i) for i in group.row_ids.split(",")))
        if customer_id is None:
            default_dupes.append(
                Violation(
                    f"KPI {kpi_name} has {len(row_ids)} system-default rows "
                    f"(range_id {ids_text(row_ids)})",
                    table=R.name,
                    kpi_name=kpi_name,
                    row_ids=row_ids,
                )
            )
        else:
            slug = group.slug
            customer_dupes.append(
                Violation(
                    f"customer {who(slug, customer_id)} has {len(row_ids)} rows for KPI "
                    f"{kpi_name} (range_id {ids_text(row_ids)})",
                    table=R.name,
                    customer=slug,
                    customer_id=customer_id,
                    kpi_name=kpi_name,
                    row_ids=row_ids,
                )
            )
    return [
        CheckResult("unique_customer_kpi", tuple(customer_dupes)),
        CheckResult("unique_default_kpi", tuple(default_dupes)),
    ]


# -- no_orphan_rows: one statement over every tenant table ---------------------------


def no_orphan_rows(conn: Connection) -> CheckResult:
    parts = []
    for table in (R, kpi_observations, health_scores):
        kpi = table.c.kpi_name if "kpi_name" in table.c else literal(None, R.c.kpi_name.type)
        parts.append(
            select(
                literal(table.name).label("table_name"),
                table.c[PK[table.name]].label("row_id"),
                table.c.customer_id,
                kpi.label("kpi_name"),
            ).where(
                table.c.customer_id.is_not(None),
                ~select(customers.c.customer_id)
                .where(customers.c.customer_id == table.c.customer_id)
                .exists(),
            )
        )
    groups: dict[tuple[str, int, str | None], list[int]] = defaultdict(list)
    for row in conn.execute(union_all(*parts)):
        groups[(row.table_name, row.customer_id, row.kpi_name)].append(row.row_id)
    violations = []
    for (table_name, customer_id, kpi_name), row_ids in sorted(groups.items(), key=repr):
        ids = tuple(sorted(row_ids))
        what = f" for KPI {kpi_name}" if kpi_name else ""
        violations.append(
            Violation(
                f"{table_name} has {len(ids)} row{'s' if len(ids) != 1 else ''}{what} of "
                f"customer_id {customer_id}, which is not in customers "
                f"({PK[table_name]} {ids_text(ids)})",
                table=table_name,
                customer_id=customer_id,
                kpi_name=kpi_name,
                row_ids=ids,
            )
        )
    return CheckResult("no_orphan_rows", tuple(violations))


# -- effective_one_per_kpi, no_foreign_rows: every customer's view in one statement ---


def effective_view_checks(conn: Connection, ids: list[int] | None) -> list[CheckResult]:
    # The very predicate store.effective_ranges reads with, evaluated for every customer
    # at once: a join of customers with the ranges each one's scoped read returns.
    def view_of(viewer: Any) -> Any:
        return viewer.join(R, store.effective_range_filter(viewer.c.customer_id))

    # First every view, one group per customer, in the order the join yields them (no
    # sort): the customers whose view has a KPI twice or a foreign row. Only their views
    # are then read again, row by row, to name the rows.
    everyone = customers.alias("everyone")
    foreign_row = and_(R.c.customer_id.is_not(None), R.c.customer_id != everyone.c.customer_id)
    wrong = (
        select(everyone.c.customer_id)
        .select_from(view_of(everyone))
        .group_by(everyone.c.customer_id)
        .having(
            or_(
                func.count() != func.count(R.c.kpi_name.distinct()),
                func.max(case((foreign_row, 1), else_=0)) == 1,
            )
        )
    )
    if ids is not None:
        wrong = wrong.where(everyone.c.customer_id.in_(ids))
    wrong_views = wrong.cte("wrong_views")
    viewer = customers.alias("viewer")
    owner = customers.alias("owner")
    view = (
        select(
            viewer.c.customer_id.label("viewer_id"),
            viewer.c.slug.label("viewer"),
            R.c.range_id,
            R.c.customer_id.label("owner_id"),
            R.c.kpi_name,
            func.count().over(partition_by=[viewer.c.customer_id, R.c.kpi_name]).label("n"),
        )
        .select_from(view_of(viewer))
        .where(viewer.c.customer_id.in_(select(wrong_views.c.customer_id)))
    )
    v = view.subquery("effective_view")
    query = (
        select(v, owner.c.slug.label("owner"))
        .select_from(v.outerjoin(owner, owner.c.customer_id == v.c.owner_id))
        .where(
            or_(
                v.c.n > 1,
                and_(v.c.owner_id.is_not(None), v.c.owner_id != v.c.viewer_id),
            )
        )
    )
    twice: dict[tuple[int, str], list[Any]] = defaultdict(list)
    foreign: list[Violation] = []
    for row in conn.execute(query):
        if row.n > 1:
            twice[(row.viewer_id, row.kpi_name)].append(row)
        if row.owner_id is not None and row.owner_id != row.viewer_id:
            foreign.append(
                Violation(
                    f"the effective ranges of customer {row.viewer} include range_id "
                    f"{row.range_id} of customer {who(row.owner, row.owner_id)} "
                    f"(KPI {row.kpi_name})",
                    table=R.name,
                    customer=row.viewer,
                    customer_id=row.viewer_id,
                    kpi_name=row.kpi_name,
                    row_ids=(row.range_id,),
                )
            )
    duplicates = []
    for (viewer_id, kpi_name), found in sorted(twice.items()):
        row_ids = tuple(sorted(r.range_id for r in found))
        sources = ", ".join(
            f"{r.range_id} ({'default' if r.owner_id is None else who(r.owner, r.owner_id)})"
            for r in sorted(found, key=lambda r: r.range_id)
        )
        duplicates.append(
            Violation(
                f"the effective ranges of customer {found[0].viewer} have KPI {kpi_name} "
                f"{len(row_ids)} times (range_id {sources})",
                table=R.name,
                customer=found[0].viewer,
                customer_id=viewer_id,
                kpi_name=kpi_name,
                row_ids=row_ids,
            )
        )
    foreign.sort(key=lambda v: (v.customer or "", v.kpi_name or "", v.row_ids))
    return [
        CheckResult("effective_one_per_kpi", tuple(duplicates)),
        CheckResult("no_foreign_rows", tuple(foreign)),
    ]
