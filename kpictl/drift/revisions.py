"""The revision log: every applied range file, newest first, and the latest revision
of each scope with the content it applied (for drift and export)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from kpictl import store
from kpictl.db import engine as db
from kpictl.db.schema import range_revisions
from kpictl.errors import UsageError
from kpictl.settings import Settings
from kpictl.times import as_utc, iso_or_none

RR = range_revisions


@dataclass(frozen=True, slots=True)
class Revision:
    """One entry of the revision log (without the stored content)."""

    revision_id: int
    scope: str | None
    version: int
    sha256: str
    content_sha256: str
    applied_at: datetime | None
    applied_by: str
    adds: int
    changes: int
    removes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "version": self.version,
            "applied_at": iso_or_none(self.applied_at),
            "applied_by": self.applied_by,
            "adds": self.adds,
            "changes": self.changes,
            "removes": self.removes,
            "sha256": self.sha256,
            "content_sha256": self.content_sha256,
        }


@dataclass(frozen=True, slots=True)
class RecordedContent:
    """The latest revision of a scope with what it applied: for drift and export."""

    revision: Revision
    scoring: dict[str, Any] | None
    content: dict[str, Any]

    @property
    def ranges(self) -> dict[str, dict[str, Any]]:
        return dict(self.content.get("ranges") or {})


_REVISION_COLUMNS = (
    RR.c.revision_id,
    RR.c.customer_id,
    RR.c.scope,
    RR.c.version,
    RR.c.sha256,
    RR.c.content_sha256,
    RR.c.applied_at,
    RR.c.applied_by,
    RR.c.adds,
    RR.c.changes,
    RR.c.removes,
)


def _revision(row: Any) -> Revision:
    return Revision(
        revision_id=row.revision_id,
        scope=row.scope,
        version=row.version,
        sha256=row.sha256,
        content_sha256=row.content_sha256,
        applied_at=as_utc(row.applied_at) if row.applied_at is not None else None,
        applied_by=row.applied_by,
        adds=row.adds,
        changes=row.changes,
        removes=row.removes,
    )


def _json(value: Any) -> Any:
    # JSON columns come back decoded; a driver that hands back text is decoded here.
    return json.loads(value) if isinstance(value, str) else value


def latest_recorded(
    conn: Connection, customer_ids: Iterable[int | None]
) -> dict[int | None, RecordedContent]:
    """The newest revision of each given scope (None: defaults) with its content: one query."""
    rows = store.latest_revision_rows(
        conn, customer_ids, *_REVISION_COLUMNS, RR.c.scoring, RR.c.content
    )
    return {
        cid: RecordedContent(_revision(row), _json(row.scoring), _json(row.content) or {})
        for cid, row in rows.items()
    }


def revision_log(
    conn: Connection,
    *,
    customer_id: int | None = None,
    defaults_only: bool = False,
    limit: int | None = None,
) -> list[Revision]:
    """Revisions newest first: of every scope, the defaults only, or one customer."""
    query = select(*_REVISION_COLUMNS).order_by(RR.c.revision_id.desc())
    if defaults_only:
        query = query.where(RR.c.customer_id.is_(None))
    elif customer_id is not None:
        query = query.where(RR.c.customer_id == customer_id)
    # a limit beyond what a 64-bit SQL integer holds (20 digits) is no limit at all
    if limit is not None and limit < 2**63:
        query = query.limit(limit)
    return [_revision(row) for row in conn.execute(query)]


def history(
    settings: Settings,
    *,
    customer: str | None = None,
    defaults: bool = False,
    limit: int | None = None,
) -> list[Revision]:
    """The revision log, newest first: every scope, the defaults, or one customer."""
    if customer is not None and defaults:
        raise UsageError("--customer and --defaults do not go together")
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        customer_id = store.get_customer(conn, customer).customer_id if customer else None
        return revision_log(conn, customer_id=customer_id, defaults_only=defaults, limit=limit)
