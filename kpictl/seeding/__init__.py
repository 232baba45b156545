"""Seeding: the plan (pure), its application, and the chunked seed."""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from kpictl.seeding.chunked import SEED_CHUNK, SeedResult, build_plan, seed


def __getattr__(name: str) -> Any:
    # The seed needs the database layer; the plan (pure) does not: importing the plan
    # alone (kpictl.store does) must not import the seed, which imports kpictl.store.
    if name in ("SEED_CHUNK", "SeedResult", "build_plan", "seed"):
        from kpictl.seeding import chunked as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SEED_CHUNK",
    "Action",
    "Plan",
    "PlanTotals",
    "RecordedRevision",
    "RowChange",
    "ScopePlan",
    "SeedResult",
    "StoredRange",
    "build_plan",
    "diff_rows",
    "plan_scope",
    "seed",
    "version_refusal",
]
