"""Desired rows (range files) against stored rows (database) → a plan. Pure: no I/O.

The same plan serves ``seed`` (which prints and applies it) and ``diff`` (which
prints it and exits 1 when it is not empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kpictl.rangefiles.model import RANGE_COLUMNS, RangeFile

Action = Literal["add", "change", "remove", "keep"]


@dataclass(frozen=True, slots=True)
class StoredRange:
    """One row of kpi_reference_ranges as read from the database."""

    range_id: int
    kpi_name: str
    row: dict[str, Any]  # RANGE_COLUMNS → value


@dataclass(frozen=True, slots=True)
class RecordedRevision:
    """The latest revision recorded for a scope."""

    version: int
    sha256: str
    content_sha256: str
    catalog_sha256: str | None = None
    scoring: Any = None  # the recorded scoring section (a dict), for the content sha256


@dataclass(frozen=True, slots=True)
class RowChange:
    """What happens to one KPI's row in one scope."""

    scope: str | None  # customer slug; None for the system defaults
    kpi_name: str
    action: Action
    fields: dict[str, tuple[Any, Any]]  # column → (old, new); all columns for add/remove
    range_id: int | None = None  # of the stored row (change, remove, keep)
    row: dict[str, Any] | None = None  # the desired row (add, change)


@dataclass(slots=True)
class ScopePlan:
    """The plan for one range file's scope."""

    file: RangeFile
    customer_exists: bool
    name_change: tuple[str | None, str] | None  # (old, new) display name, for customers
    recorded: RecordedRevision | None
    changes: list[RowChange] = field(default_factory=list)  # add, change, remove
    kept: list[RowChange] = field(default_factory=list)  # stored but not in the file
    refusal: str | None = None  # why the version rules refuse this file (without --force)
    forced: bool = False  # --force overrode a refusal

    @property
    def scope(self) -> str | None:
        return self.file.scope

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def content_changed(self) -> bool:
        rec = self.recorded
        return rec is None or rec.content_sha256 != self.file.content_sha256

    @property
    def version_changed(self) -> bool:
        return self.recorded is None or self.recorded.version != self.file.version

    @property
    def needs_revision(self) -> bool:
        """Whether applying writes anything: rows, the customer, or a new revision."""
        return bool(
            self.changes
            or self.name_change
            or not self.customer_exists
            or self.content_changed
            or self.version_changed
        )


@dataclass(slots=True)
class Plan:
    """Everything a seed of the selected files would do."""

    scopes: list[ScopePlan]
    unchanged: int = 0  # scopes whose file, catalog and rows match the recorded revision

    def changes(self) -> list[RowChange]:
        return [c for s in self.scopes for c in s.changes]

    def count(self, action: Action) -> int:
        return sum(c.action == action for s in self.scopes for c in s.changes)

    @property
    def refusals(self) -> list[ScopePlan]:
        return [s for s in self.scopes if s.refusal and not s.forced]

    @property
    def writes_anything(self) -> bool:
        return any(s.needs_revision for s in self.scopes)


@dataclass(slots=True)
class PlanTotals:
    """The counts of a plan that is shown and applied a chunk at a time, whose rows are
    not kept: what ``seed`` returns (a seed of 10,000 files plans 100,000 rows)."""

    adds: int = 0
    changes: int = 0
    removes: int = 0
    unchanged: int = 0  # scopes recognised by their recorded sha256
    refusals: list[str] = field(default_factory=list)  # not overridden by --force
    writes_anything: bool = False

    def add(self, plan: Plan) -> None:
        self.adds += plan.count("add")
        self.changes += plan.count("change")
        self.removes += plan.count("remove")
        self.unchanged += plan.unchanged
        self.refusals += [s.refusal for s in plan.refusals if s.refusal]
        self.writes_anything = self.writes_anything or plan.writes_anything

    def count(self, action: Action) -> int:
        counts = {"add": self.adds, "change": self.changes, "remove": self.removes}
        return counts.get(action, 0)


def diff_rows(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, Any]:
    """Column → (old, new) for the columns that differ (every set column for add/remove)."""
    out: dict[str, Any] = {}
    for col in RANGE_COLUMNS:
        a = old.get(col) if old is not None else None
        b = new.get(col) if new is not None else None
        if old is None or new is None:
            if a is not None or b is not None:
                out[col] = (a, b)
        elif not _same(a, b):
            out[col] = (a, b)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return bool(a == b)


def version_refusal(file: RangeFile, recorded: RecordedRevision | None) -> str | None:
    """Why the version rules refuse to apply ``file`` over ``recorded`` (None: allowed)."""
    if recorded is None:
        return None
    if file.version < recorded.version:
        return (
            f"{file.path}: version {file.version} is below the recorded version {recorded.version}"
        )
    if file.version == recorded.version and file.content_sha256 != recorded.content_sha256:
        return (
            f"{file.path}: content changed but version {file.version} equals the recorded "
            f"version; bump 'version'"
        )
    return None


def plan_scope(
    file: RangeFile,
    stored: Mapping[str, StoredRange],
    recorded: RecordedRevision | None,
    *,
    customer_name: str | None = None,
    customer_exists: bool = True,
    prune: bool = False,
    force: bool = False,
) -> ScopePlan:
    """Compare one file with the rows stored for its scope."""
    name_change = None
    if file.kind == "customer" and customer_exists and customer_name != file.display_name:
        assert file.display_name is not None
        name_change = (customer_name, file.display_name)
    refusal = version_refusal(file, recorded)
    plan = ScopePlan(
        file=file,
        customer_exists=customer_exists,
        name_change=name_change,
        recorded=recorded,
        refusal=refusal,
        forced=bool(refusal and force),
    )
    for kpi_name, kpi_range in file.ranges.items():
        desired = kpi_range.row()
        have = stored.get(kpi_name)
        if have is None:  # diff_rows(None, desired), written out: most rows of a seed
            fields = {c: (None, v) for c, v in desired.items() if v is not None}
            plan.changes.append(RowChange(file.scope, kpi_name, "add", fields, row=desired))
            continue
        fields = diff_rows(have.row, desired)
        if fields:
            plan.changes.append(
                RowChange(file.scope, kpi_name, "change", fields, have.range_id, desired)
            )
    for kpi_name in sorted(set(stored) - set(file.ranges)):
        have = stored[kpi_name]
        change = RowChange(
            file.scope,
            kpi_name,
            "remove" if prune else "keep",
            diff_rows(have.row, None),
            have.range_id,
        )
        (plan.changes if prune else plan.kept).append(change)
    return plan
