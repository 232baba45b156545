"""Transitional: the plan lives in :mod:`kpictl.seeding.plan` (remove after the merge)."""

from kpictl.seeding.plan import (
    Action,
    Plan,
    PlanTotals,
    RecordedRevision,
    RowChange,
    ScopePlan,
    StoredRange,
    diff_rows,
    plan_scope,
    version_refusal,
)

__all__ = [
    "Action",
    "Plan",
    "PlanTotals",
    "RecordedRevision",
    "RowChange",
    "ScopePlan",
    "StoredRange",
    "diff_rows",
    "plan_scope",
    "version_refusal",
]
