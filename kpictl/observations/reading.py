"""Observations read back: one customer's, and every customer's latest values."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from kpictl import store
from kpictl.backends import backend_of
from kpictl.backends.base import latest_observations_query
from kpictl.db import engine as db
from kpictl.db.schema import customers, kpi_observations
from kpictl.db.tenant import tenant_scope
from kpictl.observations.values import check_kpis, known_kpis
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.scoring import InputValue, iso
from kpictl.settings import Settings
from kpictl.times import as_utc


@dataclass(frozen=True, slots=True)
class Observation:
    customer: str
    kpi_name: str
    observed_at: datetime
    value: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "kpi_name": self.kpi_name,
            "observed_at": iso(self.observed_at),
            "value": self.value,
        }


def observations_of(
    conn: Connection, customer_id: int, *, kpi: str | None = None
) -> Iterator[Observation]:
    """One customer's observations, by KPI then time (streamed)."""
    Obs = kpi_observations
    query = (
        select(customers.c.slug, Obs.c.kpi_name, Obs.c.observed_at, Obs.c.value)
        .join_from(Obs, customers, customers.c.customer_id == Obs.c.customer_id)
        .where(Obs.c.customer_id == customer_id)
        .order_by(Obs.c.kpi_name, Obs.c.observed_at)
    )
    if kpi is not None:
        query = query.where(Obs.c.kpi_name == kpi)
    for row in conn.execute(query.execution_options(yield_per=5000)):
        yield Observation(row.slug, row.kpi_name, as_utc(row.observed_at), row.value)


def latest_values(conn: Connection, customer_id: int, at: datetime) -> dict[str, InputValue]:
    """One customer's values: the latest observation of each KPI at or before ``at``."""
    return {
        row.kpi_name: InputValue(row.value, "observation", as_utc(row.observed_at))
        for row in conn.execute(latest_observations_query(at, customer_id))
    }


def latest_values_query(conn: Connection, at: datetime) -> Any:
    """Every customer's latest values at or before ``at``: (customer_id, kpi_name,
    value), by customer id then KPI; no times (the backend's fastest form)."""
    return backend_of(conn).latest_values_query(at)


def latest_values_all(conn: Connection, at: datetime) -> Any:
    """:func:`latest_values_query`'s rows, streamed (a result: close it when it is not
    read to the end)."""
    return conn.execute(latest_values_query(conn, at).execution_options(yield_per=10_000))


def list_observations(
    settings: Settings, ranges: RangeDir, slug: str, *, kpi: str | None = None
) -> list[Observation]:
    """A customer's observations, by KPI then time."""
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        if kpi is not None:
            check_kpis([kpi], known_kpis(ranges, conn), where="--kpi")
        customer = store.get_customer(conn, slug)
        with tenant_scope(conn, customer.customer_id):
            return list(observations_of(conn, customer.customer_id, kpi=kpi))
