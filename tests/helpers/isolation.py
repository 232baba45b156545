"""The isolation report as the tests read it: run the checks, name the failed ones, and
read the violations of one check."""

from __future__ import annotations

from kpictl import isolation
from kpictl.settings import Settings


def report(settings: Settings, **kwargs) -> isolation.IsolationReport:
    return isolation.verify_isolation(settings, **kwargs)


def failed(result: isolation.IsolationReport) -> set[str]:
    return {c.name for c in result.checks if not c.ok}


def messages(result: isolation.IsolationReport, check: str) -> str:
    return "\n".join(v.message for v in result.check(check).violations)
