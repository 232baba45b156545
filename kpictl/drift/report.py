"""Drift: range files against the database (``kpictl diff``).

``diff`` is the plan of ``seed`` — :func:`kpictl.seeding.build_plan`, hence
:func:`kpictl.seeding.plan_scope` — computed with ``prune=True``: a row in the database
that its file no longer has is a difference (``remove``), whatever ``seed`` would keep.
On top of the plan, per scope: the file's version against the recorded revision's,
rows edited by hand since that revision (the stored rows against the revision's
normalised ``content``), a scoring section that differs from the recorded one, and the
customers in the database that have no file.

Every read is set-based: the number of queries does not grow with the customers.
Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kpictl import store
from kpictl.db import engine as db
from kpictl.drift.revisions import RecordedContent, latest_recorded
from kpictl.errors import UnknownCustomer, UsageError
from kpictl.rangefiles.model import Problem, RangeFile
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.rangefiles.rules import SLUG_RE
from kpictl.seeding.chunked import build_plan, plan_files
from kpictl.seeding.plan import Plan, ScopePlan, StoredRange, diff_rows
from kpictl.settings import Settings

DriftKind = Literal["changed", "deleted", "unrecorded"]


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
    schema_absent: bool = False  # the database has no kpictl schema: all is an addition

    @property
    def differs(self) -> bool:
        return bool(
            any(s.differs for s in self.scopes)
            or self.customers_without_file
            or self.defaults_without_file
        )

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
            "schema_absent": self.schema_absent,
        }


def _select_files(
    ranges: RangeDir, customers: Sequence[str], defaults: bool, all: bool
) -> tuple[list[RangeFile], list[Problem], list[str]]:
    """The selected files, their warnings, and the selected customers that have no file."""
    if all:
        files, warnings = ranges.load_selection(all=True)
        return files, warnings, []
    for slug in customers:
        if not SLUG_RE.fullmatch(slug):
            raise UsageError(f"invalid customer slug {slug!r}")
    slugs = list(dict.fromkeys(customers))
    with_file = [s for s in slugs if ranges.customer_path(s).is_file()]
    without = [s for s in slugs if s not in with_file]
    if not (with_file or defaults):
        if not ranges.path.is_dir():  # the same message as for any selection
            ranges.load_selection(customers=slugs)
        return [], [], without
    files, warnings = ranges.load_selection(customers=with_file, defaults=defaults)
    return files, warnings, without


def diff(
    settings: Settings,
    *,
    customers: Sequence[str] = (),
    defaults: bool = False,
    all: bool = False,
    ranges: RangeDir | None = None,
) -> DriftReport:
    """Compare range files with the database (no selection: every file and customer).

    A selected customer without a file is a difference when the database has it, and
    an error (exit 2) when neither has it.
    """
    ranges = ranges or RangeDir(settings.ranges_dir)
    if not (customers or defaults or all):
        all = True
    files, warnings, missing = _select_files(ranges, customers, defaults, all)
    no_defaults_file = all and not ranges.defaults_path.is_file()
    file_slugs = {f.customer for f in files if f.customer is not None}
    with (
        db.open_database_revision(settings, schema_optional=True) as (engine, revision),
        db.read_transaction(engine) as conn,
    ):
        if revision is None:
            # nothing of kpictl's is stored yet: every scope is an addition (a read
            # never creates the schema; 'kpictl init' or the first seed does)
            warnings.append(
                Problem(
                    settings.safe_url,
                    None,
                    "",
                    "the database has no kpictl schema yet ('kpictl init' creates it): "
                    "every scope is planned as an addition",
                    "warning",
                )
            )
            _refuse_unknown(ranges, missing, {})
            plan = plan_files(files, {}, {}, {}, prune=True)
            scopes = [scope_drift(p, None, {}) for p in plan.scopes]
            return DriftReport(plan, scopes, [], None, warnings, schema_absent=True)
        plan, _ = build_plan(conn, files, prune=True)
        if all:
            known = store.customers_by_slug(conn)
        else:
            known = store.customers_by_slug(conn, sorted(file_slugs | set(missing)))
        _refuse_unknown(ranges, missing, known)
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


def _refuse_unknown(
    ranges: RangeDir, missing: Sequence[str], known: Mapping[str, store.Customer]
) -> None:
    """A selected customer that has neither a file nor a row: exit 2."""
    unknown = [s for s in missing if s not in known]
    if unknown:
        path = ranges.customer_path(unknown[0])
        raise UnknownCustomer(
            f"unknown customer {unknown[0]!r}: no file {path} and not in the database",
            hint="'kpictl customers list' shows the customers",
        )
