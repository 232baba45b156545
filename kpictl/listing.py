"""``kpictl list``: stored ranges, and a customer's effective ranges."""

from __future__ import annotations

from kpictl import store
from kpictl.db import engine as db
from kpictl.db.tenant import tenant_scope
from kpictl.errors import UsageError
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.settings import Settings


def list_ranges(
    settings: Settings,
    ranges: RangeDir,
    *,
    customer: str | None = None,
    own: bool = False,
    defaults: bool = False,
    kpi: str | None = None,
) -> list[store.RangeRow]:
    """Stored ranges; with ``customer``, its effective ranges (or ``own`` rows only)."""
    if own and customer is None:
        raise UsageError("--own needs --customer")
    if customer is not None and defaults:
        raise UsageError("--customer and --defaults do not go together")
    kpi = ranges.checked_kpi(kpi)
    fallback = ranges.file_defaults() if customer is not None and not own else None
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        if customer is None:
            return store.list_stored(conn, defaults_only=defaults, kpi=kpi)
        found = store.get_customer(conn, customer)
        if own:
            with tenant_scope(conn, found.customer_id):  # row-level security on PostgreSQL
                return store.list_stored(conn, customer_id=found.customer_id, kpi=kpi)
        return store.effective_ranges(conn, found, file_defaults=fallback, kpi=kpi)
