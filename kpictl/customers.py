"""Customers (tenants): listed, added and removed."""

from __future__ import annotations

from dataclasses import dataclass

from kpictl import store
from kpictl.db import engine as db
from kpictl.errors import UsageError
from kpictl.rangefiles.rules import SLUG_RE, name_problem
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings
from kpictl.times import iso_or_none


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    slug: str
    name: str
    created_at: str | None
    own_ranges: int

    def as_dict(self) -> dict[str, object]:
        return {
            "slug": self.slug,
            "name": self.name,
            "created_at": self.created_at,
            "own_ranges": self.own_ranges,
        }


def list_customers(settings: Settings) -> list[CustomerInfo]:
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        counts = store.customer_range_counts(conn)
        found = store.customers_by_slug(conn)
    return [
        CustomerInfo(
            c.slug,
            c.name,
            iso_or_none(c.created_at),
            counts.get(c.customer_id, 0),
        )
        for c in sorted(found.values(), key=lambda c: c.slug)
    ]


def add_customer(settings: Settings, slug: str, *, name: str | None = None) -> store.Customer:
    if not SLUG_RE.fullmatch(slug):
        raise UsageError(
            f"invalid customer slug {slug!r}",
            hint="lowercase letters, digits and '-', at most 63, not starting or ending with '-'",
        )
    if name is not None and (bad := name_problem(name)):
        raise UsageError(f"--name {bad}")
    with (
        db.open_database(settings, write=True) as engine,
        db.write_transaction(engine, lock_timeout=DEFAULT_LOCK_TIMEOUT) as conn,
    ):
        if store.customers_by_slug(conn, [slug]):
            raise UsageError(f"customer {slug!r} already exists")
        store.create_customers(conn, {slug: name or slug})
        return store.customers_by_slug(conn, [slug])[slug]


def remove_customer(settings: Settings, slug: str) -> store.Customer:
    """Delete a customer; its ranges, observations, scores and revisions go with it."""
    with (
        db.open_database(settings, write=True) as engine,
        db.write_transaction(engine, lock_timeout=DEFAULT_LOCK_TIMEOUT) as conn,
    ):
        found = store.get_customer(conn, slug)
        store.delete_customer(conn, found.customer_id)
        return found
