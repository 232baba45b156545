"""``kpictl adopt``: take over an application's database — inspect, plan (pure), apply.

A database that has the application's ``customers`` and ``kpi_reference_ranges`` but no
kpictl schema version gets kpictl's columns, constraints, tables and (PostgreSQL)
row-level security, a first revision per scope, and the schema version — in one
transaction, and only with ``--yes``. ``export --all`` then writes the range files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kpictl.adopt.plan import AdoptionPlan, AdoptionRefused, Fault, NotAdoptable, Step
from kpictl.adopt.slugs import SlugSource
from kpictl.settings import Settings

__all__ = [
    "AdoptionPlan",
    "AdoptionRefused",
    "AdoptionResult",
    "Fault",
    "NotAdoptable",
    "SlugSource",
    "Step",
    "adopt",
]


@dataclass(slots=True)
class AdoptionResult:
    url: str
    managed_revision: str | None  # set when kpictl already manages the database
    plan: AdoptionPlan | None
    applied: bool


def adopt(
    settings: Settings,
    *,
    slug_from: str = "name",
    yes: bool = False,
    lock_timeout: float | None = None,
) -> AdoptionResult:
    """Plan the adoption of the settings' database; with ``yes``, apply it.

    A plan with blocking faults (stored rows that would break a constraint kpictl adds)
    is not applied: ``plan.refuse_if_blocked()`` raises AdoptionRefused (exit 1) for it.
    NotAdoptable (exit 2): the database is empty or not the application's shape. A
    database kpictl already manages is left alone (``managed_revision`` is set).
    """
    from sqlalchemy import Connection

    from kpictl.adopt.apply import apply_plan
    from kpictl.adopt.inspect import inspect_database
    from kpictl.adopt.slugs import assign_slugs, read_mapping
    from kpictl.adopt.steps import check_adoptable, make_plan
    from kpictl.db import engine as db
    from kpictl.rangefiles import load_catalog
    from kpictl.rangefiles.rules import CATALOG_FILE
    from kpictl.settings import DEFAULT_LOCK_TIMEOUT, applied_by
    from kpictl.store import utcnow

    seconds = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    source = SlugSource.parse(slug_from)
    mapping = read_mapping(Path(source.value).expanduser()) if source.kind == "file" else None
    catalog_path = settings.ranges_dir / CATALOG_FILE
    catalog = load_catalog(catalog_path)[0] if catalog_path.is_file() else None
    who = applied_by()

    def planned(conn: Connection) -> AdoptionPlan | str:
        column = source.value if source.kind == "column" else None
        found = inspect_database(conn, slug_column=column)
        if found.managed:
            return found.revision or "unknown"
        check_adoptable(found)
        if column is not None and column not in found.customer_columns:
            raise NotAdoptable(
                f"--slug-from {source}: customers has no column {column!r}",
                hint=f"its columns: {', '.join(found.customer_columns)}",
            )
        slugs, slug_faults = assign_slugs(found.customers, source, mapping)
        return make_plan(
            found,
            dialect=conn.dialect,
            source=source,
            slugs=slugs,
            slug_faults=slug_faults,
            catalog=catalog,
            head=db.head_revision(),
            applied_by=who,
            now=utcnow(),
        )

    with db.translate_errors(settings):
        engine = db.make_engine(settings)
        try:
            if not yes:
                with db.read_transaction(engine) as conn:
                    plan = planned(conn)
            else:
                # the plan is made again under the write lock: what is applied is what
                # the database holds at that moment
                with db.write_transaction(engine, lock_timeout=seconds) as conn:
                    plan = planned(conn)
                    if isinstance(plan, AdoptionPlan) and not plan.blocking:
                        apply_plan(conn, plan, lock_timeout=db.lock_seconds(seconds))
        finally:
            engine.dispose()
    if isinstance(plan, str):
        return AdoptionResult(settings.safe_url, plan, None, applied=False)
    return AdoptionResult(settings.safe_url, None, plan, applied=yes and not plan.blocking)
