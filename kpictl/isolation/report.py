"""What ``verify-isolation`` found: the report objects, in the SPEC's order of checks.

Plain data, no database and no output: the checks build them, the CLI renders them
(and :mod:`kpictl.render.junit` writes them as JUnit XML).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CHECKS: dict[str, str] = {
    "unique_customer_kpi": "no (customer_id, kpi_name) pair appears twice",
    "unique_default_kpi": "no KPI has two system-default rows",
    "no_orphan_rows": "every tenant row's customer_id is in customers",
    "schema_constraints": "the constraints, indexes and cascades of the schema exist",
    "effective_one_per_kpi": "every customer's effective view has each KPI once",
    "no_foreign_rows": "no customer's scoped read returns another customer's row",
    "row_level_security": (
        "PostgreSQL row-level security admits each tenant only its own rows, to read "
        "and to write, and the tenant role reaches nothing else"
    ),
}


PK = {
    "kpi_reference_ranges": "range_id",
    "kpi_observations": "observation_id",
    "health_scores": "score_id",
}


# -- result objects ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    """One thing found wrong, naming the table, customer, KPI and rows it concerns."""

    message: str
    table: str | None = None
    customer: str | None = None  # slug; None for system defaults or an unknown customer
    customer_id: int | None = None
    kpi_name: str | None = None
    row_ids: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "table": self.table,
            "customer": self.customer,
            "customer_id": self.customer_id,
            "kpi_name": self.kpi_name,
            "row_ids": list(self.row_ids),
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: passed, failed (with violations) or skipped (why)."""

    name: str
    violations: tuple[Violation, ...] = ()
    skipped: str | None = None  # the reason the check does not apply here
    note: str | None = None  # what a passing check proves here (its coverage)
    # how long the check took; two checks answered by one statement share its time
    seconds: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def status(self) -> str:
        if self.violations:
            return "failed"
        return "skipped" if self.skipped else "passed"

    @property
    def description(self) -> str:
        return CHECKS[self.name]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "ok": self.ok,
            "status": self.status,
            "violations": [v.as_dict() for v in self.violations],
        }
        if self.skipped:
            out["skipped"] = True
            out["reason"] = self.skipped
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class IsolationReport:
    """Every check's result, in the SPEC's order. ``ok`` when none failed."""

    backend: str
    checks: tuple[CheckResult, ...]
    customers: tuple[str, ...] = ()  # the --customer selection; empty: all customers
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [c.as_dict() for c in self.checks],
            "backend": self.backend,
            "customers": list(self.customers) or None,
        }


# -- helpers of the checks' messages -------------------------------------------------


def ids_text(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in ids)


def who(slug: str | None, customer_id: int | None) -> str:
    return slug if slug is not None else f"customer_id {customer_id} (not in customers)"
