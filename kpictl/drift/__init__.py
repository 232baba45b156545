"""Drift and comparison: range files against the database, one scope against another,
and the revision log."""

from kpictl.drift.compare import (
    DEFAULTS_SCOPE,
    Comparison,
    KpiComparison,
    check_against,
    compare,
    compare_views,
    defaults_view,
)
from kpictl.drift.report import (
    DriftedRow,
    DriftKind,
    DriftReport,
    ScopeDrift,
    ScopeWithoutFile,
    diff,
    drifted_rows,
    scope_drift,
)
from kpictl.drift.revisions import RecordedContent, Revision, history, latest_recorded, revision_log

__all__ = [
    "DEFAULTS_SCOPE",
    "Comparison",
    "DriftKind",
    "DriftReport",
    "DriftedRow",
    "KpiComparison",
    "RecordedContent",
    "Revision",
    "ScopeDrift",
    "ScopeWithoutFile",
    "check_against",
    "compare",
    "compare_views",
    "defaults_view",
    "diff",
    "drifted_rows",
    "history",
    "latest_recorded",
    "revision_log",
    "scope_drift",
]
