"""Writing a plan: the customers it creates or renames, its rows and revisions, in bulk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete
from sqlalchemy import update as sa_update

from kpictl import store
from kpictl.backends import JsonText
from kpictl.db.schema import kpi_reference_ranges as R
from kpictl.db.schema import range_revisions
from kpictl.seeding.plan import Plan
from kpictl.store import bulk_insert
from kpictl.times import utcnow


def apply(conn: Connection, plan: Plan, *, applied_by: str, catalog_sha256: str | None) -> None:
    """Write what ``plan`` needs: new customers, renamed ones, rows and revisions."""
    scopes = [s for s in plan.scopes if s.needs_revision]
    store.create_customers(
        conn,
        {
            s.file.customer: s.file.display_name or s.file.customer
            for s in scopes
            if s.file.customer is not None and not s.customer_exists
        },
    )
    store.rename_customers(
        conn,
        {s.file.customer: s.name_change[1] for s in scopes if s.name_change and s.file.customer},
    )
    ids = {
        slug: c.customer_id
        for slug, c in store.customers_by_slug(
            conn, [s.file.customer for s in scopes if s.file.customer]
        ).items()
    }
    apply_plan(conn, plan, ids, applied_by=applied_by, catalog_sha256=catalog_sha256)


def apply_plan(
    conn: Connection,
    plan: Plan,
    customer_ids: Mapping[str, int],
    *,
    applied_by: str,
    catalog_sha256: str | None = None,
) -> None:
    """Write a plan with bulk statements: one per kind of change, for all scopes at once."""
    now = utcnow()
    adds: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    removes: list[int] = []
    revisions: list[dict[str, Any]] = []
    for scope in plan.scopes:
        if not scope.needs_revision:
            continue
        cid = customer_ids[scope.scope] if scope.scope is not None else None
        for change in scope.changes:
            if change.action == "add":
                adds.append(
                    {
                        "customer_id": cid,
                        "kpi_name": change.kpi_name,
                        **(change.row or {}),
                        "updated_at": now,
                    }
                )
            elif change.action == "change":
                updates.append(
                    {"b_range_id": change.range_id, **(change.row or {}), "updated_at": now}
                )
            elif change.action == "remove":
                assert change.range_id is not None
                removes.append(change.range_id)
        file = scope.file
        revisions.append(
            {
                "customer_id": cid,
                "scope": scope.scope,
                "version": file.version,
                "sha256": file.sha256,
                "content_sha256": file.content_sha256,
                "catalog_sha256": catalog_sha256,
                "applied_at": now,
                "applied_by": applied_by,
                "adds": scope.count("add"),
                "changes": scope.count("change"),
                "removes": scope.count("remove"),
                "scoring": file.scoring.to_dict() if file.scoring else None,
                "content": JsonText(file.content_json),
            }
        )
    if removes:
        conn.execute(delete(R).where(R.c.range_id.in_(removes)))
    if updates:
        conn.execute(sa_update(R).where(R.c.range_id == bindparam("b_range_id")), updates)
    bulk_insert(conn, R, adds)
    bulk_insert(conn, range_revisions, revisions)
