"""Drift and comparison: range files against the database, one scope against another,
and the revision log.

``diff`` is the plan of ``seed`` — :func:`kpictl.api.build_plan`, hence
:func:`kpictl.plan.plan_scope` — computed with ``prune=True``: a row in the database
that its file no longer has is a difference (``remove``), whatever ``seed`` would keep.
On top of the plan, per scope: the file's version against the recorded revision's,
rows edited by hand since that revision (the stored rows against the revision's
normalised ``content``), a scoring section that differs from the recorded one, and the
customers in the database that have no file.

Every read is set-based: the number of queries does not grow with the customers.
Nothing here prints.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from sqlalchemy import Connection, func, or_, select

from kpictl import api, store
from kpictl.db import engine as db
from kpictl.db.schema import range_revisions
from kpictl.errors import UnknownCustomer, UsageError
from kpictl.plan import Plan, RowChange, ScopePlan, StoredRange, diff_rows
from kpictl.rangefiles.loader import CUSTOMERS_DIR, DEFAULTS_FILE
from kpictl.rangefiles.model import Problem, RangeFile
from kpictl.settings import Settings
from kpictl.timestamps import iso_or_none

DEFAULTS_SCOPE = "defaults"
"""What ``--against`` takes for the system defaults (a customer slug can't be meant there)."""

DriftKind = Literal["changed", "deleted", "unrecorded"]

RR = range_revisions


# -- the revision log ------------------------------------------------------------------


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


def as_utc(value: datetime | None) -> datetime | None:
    """A stored time in UTC (SQLite gives it back without a zone; kpictl writes UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _revision(row: Any) -> Revision:
    return Revision(
        revision_id=row.revision_id,
        scope=row.scope,
        version=row.version,
        sha256=row.sha256,
        content_sha256=row.content_sha256,
        applied_at=as_utc(row.applied_at),
        applied_by=row.applied_by,
        adds=row.adds,
        changes=row.changes,
        removes=row.removes,
    )


def _json(value: Any) -> Any:
    # JSON columns come back decoded; a driver that hands back text is decoded here.
    return json.loads(value) if isinstance(value, str) else value


def _scope_clause(customer_ids: Iterable[int | None]) -> Any:
    ids = set(customer_ids)
    clauses = []
    real_ids = sorted(i for i in ids if i is not None)
    if real_ids:
        clauses.append(RR.c.customer_id.in_(real_ids))
    if None in ids:
        clauses.append(RR.c.customer_id.is_(None))
    return or_(*clauses) if clauses else None


def latest_recorded(
    conn: Connection, customer_ids: Iterable[int | None]
) -> dict[int | None, RecordedContent]:
    """The newest revision of each given scope (None: defaults) with its content: one query."""
    clause = _scope_clause(customer_ids)
    if clause is None:
        return {}
    newest = select(func.max(RR.c.revision_id)).where(clause).group_by(RR.c.customer_id)
    query = select(*_REVISION_COLUMNS, RR.c.scoring, RR.c.content).where(
        RR.c.revision_id.in_(newest)
    )
    return {
        row.customer_id: RecordedContent(
            _revision(row), _json(row.scoring), _json(row.content) or {}
        )
        for row in conn.execute(query)
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
    if limit is not None:
        query = query.limit(limit)
    return [_revision(row) for row in conn.execute(query)]


# -- drift: the pure part ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriftedRow:
    """A stored row that no longer matches the latest revision recorded for its scope."""

    scope: str | None
    kpi_name: str
    kind: DriftKind  # changed since the revision, deleted since, or not in the revision
    fields: dict[str, tuple[Any, Any]]  # column → (recorded, stored)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kpi_name": self.kpi_name,
            "kind": self.kind,
            "fields": {k: {"recorded": a, "stored": b} for k, (a, b) in self.fields.items()},
        }


def drifted_rows(
    scope: str | None,
    recorded: Mapping[str, Mapping[str, Any]],
    stored: Mapping[str, StoredRange],
) -> list[DriftedRow]:
    """Stored rows against the rows a revision applied, sorted by KPI.

    ``unrecorded`` rows were inserted by hand, or kept by a seed without --prune after
    their KPI left the file: either way the revision does not account for them.
    """
    out = []
    for kpi in sorted(set(recorded) | set(stored)):
        have = stored.get(kpi)
        want = recorded.get(kpi)
        if want is None:
            assert have is not None
            out.append(DriftedRow(scope, kpi, "unrecorded", diff_rows(None, have.row)))
        elif have is None:
            out.append(DriftedRow(scope, kpi, "deleted", diff_rows(want, None)))
        else:
            fields = diff_rows(want, have.row)
            if fields:
                out.append(DriftedRow(scope, kpi, "changed", fields))
    return out


def _same_scoring(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    return bool(_floats(a) == _floats(b))


def _floats(value: Any) -> Any:
    """Numbers as floats, so that 52 and 52.0 (JSON round trips) compare equal."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_floats(v) for v in value]
    return value


@dataclass(slots=True)
class ScopeDrift:
    """One file's scope: its seed plan (pruning), its recorded revision, its drift."""

    plan: ScopePlan
    recorded: RecordedContent | None
    drift: list[DriftedRow] = field(default_factory=list)
    scoring_change: tuple[dict[str, Any] | None, dict[str, Any] | None] | None = None

    @property
    def file(self) -> RangeFile:
        return self.plan.file

    @property
    def scope(self) -> str | None:
        return self.plan.scope

    @property
    def database_version(self) -> int | None:
        return self.recorded.revision.version if self.recorded else None

    @property
    def version_differs(self) -> bool:
        return self.database_version != self.file.version

    @property
    def differs(self) -> bool:
        """Whether seeding would write anything, or the rows drifted from the revision."""
        return bool(self.plan.needs_revision or self.plan.changes or self.drift)

    def as_dict(self) -> dict[str, Any]:
        name = self.plan.name_change
        return {
            "scope": self.scope,
            "file": str(self.file.path),
            "file_version": self.file.version,
            "database_version": self.database_version,
            "differs": self.differs,
            "customer_exists": self.plan.customer_exists,
            "name": {"old": name[0], "new": name[1]} if name else None,
            "scoring": (
                {"old": self.scoring_change[0], "new": self.scoring_change[1]}
                if self.scoring_change
                else None
            ),
            "content_differs": self.plan.content_changed,
            "refusal": self.plan.refusal,
            "drift": [d.as_dict() for d in self.drift],
            "adds": self.plan.count("add"),
            "changes": self.plan.count("change"),
            "removes": self.plan.count("remove"),
        }


def scope_drift(plan: ScopePlan, recorded: RecordedContent | None, stored: Any) -> ScopeDrift:
    """Add the revision's view to one scope's plan (``stored``: the scope's rows)."""
    new = plan.file.scoring.to_dict() if plan.file.scoring else None
    if recorded is None:
        return ScopeDrift(plan, None, [], (None, new) if new else None)
    old = recorded.scoring
    scoring_change = None if _same_scoring(old, new) else (old, new)
    drift = drifted_rows(plan.scope, recorded.ranges, stored)
    return ScopeDrift(plan, recorded, drift, scoring_change)


@dataclass(frozen=True, slots=True)
class ScopeWithoutFile:
    """A scope stored in the database that no range file describes."""

    scope: str | None  # customer slug; None for the system defaults
    name: str | None
    ranges: int
    database_version: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer": self.scope,
            "name": self.name,
            "ranges": self.ranges,
            "database_version": self.database_version,
        }


@dataclass(slots=True)
class DriftReport:
    """Everything ``diff`` found: the plan and, per scope, what it does not show."""

    plan: Plan
    scopes: list[ScopeDrift]
    customers_without_file: list[ScopeWithoutFile] = field(default_factory=list)
    defaults_without_file: ScopeWithoutFile | None = None
    warnings: list[Problem] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(
            any(s.differs for s in self.scopes)
            or self.customers_without_file
            or self.defaults_without_file
        )

    def changes(self) -> list[RowChange]:
        return self.plan.changes()

    @property
    def drift(self) -> list[DriftedRow]:
        return [d for s in self.scopes for d in s.drift]

    def as_dict(self) -> dict[str, Any]:
        """What the rows alone don't tell. The JSON of ``diff`` puts these keys after
        ``changes``, which :func:`kpictl.render.plan_changes` writes for ``diff`` and
        ``seed`` alike (SPEC section 6)."""
        return {
            "differs": self.differs,
            "scopes": [s.as_dict() for s in self.scopes],
            "customers_without_file": [c.as_dict() for c in self.customers_without_file],
            "defaults_without_file": (
                self.defaults_without_file.as_dict() if self.defaults_without_file else None
            ),
        }


# -- diff: files against the database ----------------------------------------------------


def _select_files(
    settings: Settings, customers: Sequence[str], defaults: bool, all: bool
) -> tuple[list[RangeFile], list[Problem], list[str]]:
    """The selected files, their warnings, and the selected customers that have no file."""
    if all:
        files, warnings = api.load_selection(settings, all=True)
        return files, warnings, []
    for slug in customers:
        if not api.SLUG_RE.fullmatch(slug):
            raise UsageError(f"invalid customer slug {slug!r}")
    slugs = list(dict.fromkeys(customers))
    folder = settings.ranges_dir / CUSTOMERS_DIR
    with_file = [s for s in slugs if (folder / f"{s}.yaml").is_file()]
    without = [s for s in slugs if s not in with_file]
    if not (with_file or defaults):
        if not settings.ranges_dir.is_dir():  # the same message as for any selection
            api.load_selection(settings, customers=slugs)
        return [], [], without
    files, warnings = api.load_selection(settings, customers=with_file, defaults=defaults)
    return files, warnings, without


def diff(
    settings: Settings,
    *,
    customers: Sequence[str] = (),
    defaults: bool = False,
    all: bool = False,
) -> DriftReport:
    """Compare range files with the database (no selection: every file and customer).

    A selected customer without a file is a difference when the database has it, and
    an error (exit 2) when neither has it.
    """
    if not (customers or defaults or all):
        all = True
    files, warnings, missing = _select_files(settings, customers, defaults, all)
    no_defaults_file = all and not (settings.ranges_dir / DEFAULTS_FILE).is_file()
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        plan, _ = api.build_plan(conn, files, prune=True)
        file_slugs = {f.customer for f in files if f.customer is not None}
        if all:
            known = store.customers_by_slug(conn)
        else:
            known = store.customers_by_slug(conn, sorted(file_slugs | set(missing)))
        unknown = [s for s in missing if s not in known]
        if unknown:
            path = settings.ranges_dir / CUSTOMERS_DIR / f"{unknown[0]}.yaml"
            raise UnknownCustomer(
                f"unknown customer {unknown[0]!r}: no file {path} and not in the database",
                hint="'kpictl customers list' shows the customers",
            )
        orphans = sorted(set(known) - file_slugs) if all else missing
        scope_ids: list[int | None] = [known[s].customer_id for s in file_slugs if s in known]
        if defaults or all:
            scope_ids.append(None)
        recorded = latest_recorded(conn, scope_ids)
        stored = store.stored_ranges(conn, scope_ids)
        orphan_ids = [known[s].customer_id for s in orphans]
        counts = store.customer_range_counts(conn) if orphans else {}
        orphan_versions = store.latest_revisions(conn, orphan_ids) if orphans else {}

    scopes = []
    for scope_plan in plan.scopes:
        slug = scope_plan.scope
        cid = None if slug is None else (known[slug].customer_id if slug in known else -1)
        scopes.append(scope_drift(scope_plan, recorded.get(cid), stored.get(cid, {})))
    without_file = [
        ScopeWithoutFile(
            slug,
            known[slug].name,
            counts.get(known[slug].customer_id, 0),
            v.version if (v := orphan_versions.get(known[slug].customer_id)) else None,
        )
        for slug in orphans
    ]
    defaults_without_file = None
    if no_defaults_file and (stored.get(None) or None in recorded):
        rec = recorded.get(None)
        defaults_without_file = ScopeWithoutFile(
            None, None, len(stored.get(None, {})), rec.revision.version if rec else None
        )
    return DriftReport(plan, scopes, without_file, defaults_without_file, warnings)


# -- diff --against: the effective ranges of two scopes -----------------------------------


@dataclass(frozen=True, slots=True)
class KpiComparison:
    """One KPI whose effective range differs between two scopes (None: no range there)."""

    kpi_name: str
    left: store.RangeRow | None
    right: store.RangeRow | None
    fields: dict[str, tuple[Any, Any]]  # column → (left, right)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kpi_name": self.kpi_name,
            "left": self.left.as_dict() if self.left else None,
            "right": self.right.as_dict() if self.right else None,
            "fields": {k: {"old": a, "new": b} for k, (a, b) in self.fields.items()},
        }


@dataclass(slots=True)
class Comparison:
    """The effective ranges of a customer (left) against another scope's (right)."""

    left: str
    right: str | None  # a customer slug; None for the system defaults
    kpis: list[KpiComparison]

    @property
    def differs(self) -> bool:
        return bool(self.kpis)

    @property
    def right_label(self) -> str:
        return self.right if self.right is not None else DEFAULTS_SCOPE

    def as_dict(self) -> dict[str, Any]:
        """``changes`` in the SPEC's diff shape (old: the customer, new: --against), and
        ``kpis`` with both sides and their sources."""
        changes = []
        for k in self.kpis:
            action = "change" if k.left and k.right else ("add" if k.right else "remove")
            changes.append(
                {
                    "scope": self.left,
                    "kpi_name": k.kpi_name,
                    "action": action,
                    "fields": {c: {"old": a, "new": b} for c, (a, b) in k.fields.items()},
                }
            )
        return {
            "left": self.left,
            "right": self.right,
            "differs": self.differs,
            "changes": changes,
            "kpis": [k.as_dict() for k in self.kpis],
        }


def compare_views(
    left: Iterable[store.RangeRow], right: Iterable[store.RangeRow]
) -> list[KpiComparison]:
    """The KPIs whose ranges differ between two effective views, sorted by KPI (pure)."""
    a = {r.kpi_name: r for r in left}
    b = {r.kpi_name: r for r in right}
    out = []
    for kpi in sorted(set(a) | set(b)):
        ra, rb = a.get(kpi), b.get(kpi)
        fields = diff_rows(ra.range.row() if ra else None, rb.range.row() if rb else None)
        if fields or (ra is None) != (rb is None):
            out.append(KpiComparison(kpi, ra, rb, fields))
    return out


def defaults_view(conn: Connection, file_defaults: Mapping[str, Any]) -> list[store.RangeRow]:
    """What a customer without overrides sees: the stored defaults, else the file's."""
    rows = {r.kpi_name: r for r in store.list_stored(conn, defaults_only=True)}
    for name, kpi_range in file_defaults.items():
        if name not in rows:
            rows[name] = store.RangeRow(None, name, kpi_range, "file")
    return [rows[k] for k in sorted(rows)]


def compare(settings: Settings, customer: str, against: str) -> Comparison:
    """The effective ranges of ``customer`` against those of ``against`` (a slug or
    ``defaults``): only the KPIs that differ."""
    right = None if against == DEFAULTS_SCOPE else against
    fallback = api.file_defaults(settings)
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        found = store.customers_by_slug(conn, [s for s in (customer, right) if s is not None])
        for slug in (customer, right):
            if slug is not None and slug not in found:
                raise UnknownCustomer(
                    f"unknown customer {slug!r}",
                    hint="'kpictl customers list' shows the customers; "
                    f"--against {DEFAULTS_SCOPE} compares with the system defaults",
                )
        left_rows = store.effective_ranges(conn, found[customer], file_defaults=fallback)
        if right is None:
            right_rows = defaults_view(conn, fallback)
        else:
            right_rows = store.effective_ranges(conn, found[right], file_defaults=fallback)
    return Comparison(customer, right, compare_views(left_rows, right_rows))


def check_against(customers: Collection[str], *, defaults: bool, all: bool) -> str:
    """The one customer ``--against`` compares; refuse every other selection."""
    if defaults or all or len(customers) != 1:
        raise UsageError(
            "--against needs exactly one --customer (and neither --defaults nor --all)",
            hint="kpictl diff --customer acme --against defaults",
        )
    return next(iter(customers))


# -- history -------------------------------------------------------------------------------


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
        customer_id = api.get_customer(conn, customer).customer_id if customer else None
        return revision_log(conn, customer_id=customer_id, defaults_only=defaults, limit=limit)
