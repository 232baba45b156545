"""The verbs of kpictl, in the manner of Alembic's ``command.py``: what the CLI (and any
other program) calls, each a few lines over the module that does the work.

Each verb takes the :class:`~kpictl.settings.Settings` first and returns a result
object or raises a :class:`~kpictl.errors.KpictlError`. Nothing here prints, and
nothing in kpictl but the CLI imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from kpictl.rangefiles.rangedir import RangeDir
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings

if TYPE_CHECKING:
    from kpictl.customers import CustomerInfo
    from kpictl.drift import Comparison, DriftReport, Revision
    from kpictl.export import ExportResult
    from kpictl.isolation import IsolationReport
    from kpictl.observations import ImportResult, Observation, ProgressCallback
    from kpictl.scoring import InputValue, ScoreCard
    from kpictl.scoring.verbs import ScoreAllResult
    from kpictl.seeding import Plan, PlanTotals, SeedResult
    from kpictl.store import Customer, RangeRow


def ranges_of(settings: Settings) -> RangeDir:
    """The settings' ranges directory, whose catalog each verb reads at most once."""
    return RangeDir(settings.ranges_dir)


# -- the schema ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitResult:
    url: str
    before: str | None  # schema revision before; None for a fresh database
    after: str


def init(settings: Settings) -> InitResult:
    """Create or upgrade the schema."""
    from kpictl.db import engine as db

    before, after = db.initialise(settings)
    return InitResult(settings.safe_url, before, after)


# -- range files against the database ------------------------------------------------


def seed(
    settings: Settings,
    *,
    customers: Sequence[str] = (),
    defaults: bool = False,
    all: bool = False,
    dry_run: bool = False,
    prune: bool = False,
    force: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_plan: Callable[[Plan], None] | None = None,
    on_planned: Callable[[PlanTotals], None] | None = None,
) -> SeedResult:
    """Apply range files in one transaction: everything lands or nothing does."""
    from kpictl import seeding

    return seeding.seed(
        settings,
        ranges=ranges_of(settings),
        customers=customers,
        defaults=defaults,
        all=all,
        dry_run=dry_run,
        prune=prune,
        force=force,
        lock_timeout=lock_timeout,
        on_plan=on_plan,
        on_planned=on_planned,
    )


def diff(
    settings: Settings,
    *,
    customers: Sequence[str] = (),
    defaults: bool = False,
    all: bool = False,
) -> DriftReport:
    """Range files against the database (no selection: every file and customer)."""
    from kpictl import drift

    return drift.diff(
        settings, customers=customers, defaults=defaults, all=all, ranges=ranges_of(settings)
    )


def compare(settings: Settings, customer: str, against: str) -> Comparison:
    """The effective ranges of ``customer`` against those of ``against`` (or defaults)."""
    from kpictl import drift

    return drift.compare(settings, customer, against, ranges=ranges_of(settings))


def check_against(customers: Sequence[str], *, defaults: bool, all: bool) -> str:
    """The one customer ``diff --against`` compares; refuse every other selection."""
    from kpictl.drift import check_against

    return check_against(customers, defaults=defaults, all=all)


def history(
    settings: Settings,
    *,
    customer: str | None = None,
    defaults: bool = False,
    limit: int | None = None,
) -> list[Revision]:
    """The revision log, newest first."""
    from kpictl import drift

    return drift.history(settings, customer=customer, defaults=defaults, limit=limit)


def export(
    settings: Settings, *, customer: str | None = None, defaults: bool = False
) -> ExportResult:
    """One scope of the database as range file text."""
    from kpictl import export

    return export.export(
        settings, customer=customer, defaults=defaults, ranges_dir=ranges_of(settings)
    )


def write_atomically(path: Path, text: str) -> None:
    """Write an exported file through a temporary file: never a half-written file."""
    from kpictl.export import write_atomically

    write_atomically(path, text)


# -- stored ranges and customers -----------------------------------------------------


def list_ranges(
    settings: Settings,
    *,
    customer: str | None = None,
    own: bool = False,
    defaults: bool = False,
    kpi: str | None = None,
) -> list[RangeRow]:
    """Stored ranges; with ``customer``, its effective ranges (or ``own`` rows only)."""
    from kpictl import listing

    return listing.list_ranges(
        settings, ranges_of(settings), customer=customer, own=own, defaults=defaults, kpi=kpi
    )


def list_customers(settings: Settings) -> list[CustomerInfo]:
    from kpictl import customers

    return customers.list_customers(settings)


def add_customer(settings: Settings, slug: str, *, name: str | None = None) -> Customer:
    from kpictl import customers

    return customers.add_customer(settings, slug, name=name)


def remove_customer(settings: Settings, slug: str) -> Customer:
    """Delete a customer; its ranges, observations, scores and revisions go with it."""
    from kpictl import customers

    return customers.remove_customer(settings, slug)


# -- observations and scores -----------------------------------------------------------


def import_observations(
    settings: Settings,
    source: Path | IO[bytes],
    *,
    display: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_progress: ProgressCallback | None = None,
) -> ImportResult:
    """Load a CSV of observations: everything checked, then one transaction."""
    from kpictl import observations

    return observations.import_file(
        settings,
        ranges_of(settings),
        source,
        display=display,
        lock_timeout=lock_timeout,
        on_progress=on_progress,
    )


def list_observations(
    settings: Settings, slug: str, *, kpi: str | None = None
) -> list[Observation]:
    """A customer's observations, by KPI then time."""
    from kpictl import observations

    return observations.list_observations(settings, ranges_of(settings), slug, kpi=kpi)


def score(
    settings: Settings,
    slug: str,
    *,
    at: datetime | None = None,
    values: dict[str, InputValue] | None = None,
    sets: dict[str, InputValue] | None = None,
) -> ScoreCard:
    """One customer's score card at ``at`` (default now)."""
    from kpictl.scoring import verbs as scores

    return scores.score_customer(settings, slug, at=at, values=values, sets=sets)


def score_all(
    settings: Settings,
    *,
    at: datetime | None = None,
    save: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_progress: ProgressCallback | None = None,
) -> ScoreAllResult:
    """Every customer's score at ``at``; with ``save``, written to health_scores."""
    from kpictl.scoring import verbs as scores

    return scores.score_all(
        settings, at=at, save=save, lock_timeout=lock_timeout, on_progress=on_progress
    )


def verify_isolation(
    settings: Settings, *, customers: Sequence[str] = (), probe: str = "sample"
) -> IsolationReport:
    """Run every isolation check against the database."""
    from kpictl import isolation

    return isolation.verify_isolation(settings, customers=customers, probe=probe)
