"""``diff --against``: the effective ranges of a customer against another scope's."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from kpictl import store
from kpictl.db import engine as db
from kpictl.errors import UnknownCustomer, UsageError
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.seeding.plan import diff_rows
from kpictl.settings import Settings

DEFAULTS_SCOPE = "defaults"
"""What ``--against`` takes for the system defaults (a customer slug can't be meant there)."""


@dataclass(frozen=True, slots=True)
class KpiComparison:
    """One KPI whose effective range differs between two scopes (None: no range there)."""

    kpi_name: str
    left: store.RangeRow | None
    right: store.RangeRow | None
    fields: dict[str, tuple[Any, Any]]  # column → (left, right)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kpi_name": self.kpi_name,
            "left": self.left.as_dict() if self.left else None,
            "right": self.right.as_dict() if self.right else None,
            "fields": {k: {"old": a, "new": b} for k, (a, b) in self.fields.items()},
        }


@dataclass(slots=True)
class Comparison:
    """The effective ranges of a customer (left) against another scope's (right)."""

    left: str
    right: str | None  # a customer slug; None for the system defaults
    kpis: list[KpiComparison]

    @property
    def differs(self) -> bool:
        return bool(self.kpis)

    @property
    def right_label(self) -> str:
        return self.right if self.right is not None else DEFAULTS_SCOPE

    def as_dict(self) -> dict[str, Any]:
        """``changes`` in the SPEC's diff shape (old: the customer, new: --against), and
        ``kpis`` with both sides and their sources."""
        changes = []
        for k in self.kpis:
            action = "change" if k.left and k.right else ("add" if k.right else "remove")
            changes.append(
                {
                    "scope": self.left,
                    "kpi_name": k.kpi_name,
                    "action": action,
                    "fields": {c: {"old": a, "new": b} for c, (a, b) in k.fields.items()},
                }
            )
        return {
            "left": self.left,
            "right": self.right,
            "differs": self.differs,
            "changes": changes,
            "kpis": [k.as_dict() for k in self.kpis],
        }


def compare_views(
    left: Iterable[store.RangeRow], right: Iterable[store.RangeRow]
) -> list[KpiComparison]:
    """The KPIs whose ranges differ between two effective views, sorted by KPI (pure)."""
    a = {r.kpi_name: r for r in left}
    b = {r.kpi_name: r for r in right}
    out = []
    for kpi in sorted(set(a) | set(b)):
        ra, rb = a.get(kpi), b.get(kpi)
        fields = diff_rows(ra.range.row() if ra else None, rb.range.row() if rb else None)
        if fields or (ra is None) != (rb is None):
            out.append(KpiComparison(kpi, ra, rb, fields))
    return out


def defaults_view(conn: Connection, file_defaults: Mapping[str, Any]) -> list[store.RangeRow]:
    """What a customer without overrides sees: the stored defaults, else the file's."""
    rows = {r.kpi_name: r for r in store.list_stored(conn, defaults_only=True)}
    for name, kpi_range in file_defaults.items():
        if name not in rows:
            rows[name] = store.RangeRow(None, name, kpi_range, "file")
    return [rows[k] for k in sorted(rows)]


def compare(
    settings: Settings, customer: str, against: str, *, ranges: RangeDir | None = None
) -> Comparison:
    """The effective ranges of ``customer`` against those of ``against`` (a slug or
    ``defaults``): only the KPIs that differ."""
    right = None if against == DEFAULTS_SCOPE else against
    fallback = (ranges or RangeDir(settings.ranges_dir)).file_defaults()
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        found = store.customers_by_slug(conn, [s for s in (customer, right) if s is not None])
        for slug in (customer, right):
            if slug is not None and slug not in found:
                raise UnknownCustomer(
                    f"unknown customer {slug!r}",
                    hint="'kpictl customers list' shows the customers; "
                    f"--against {DEFAULTS_SCOPE} compares with the system defaults",
                )
        left_rows = store.effective_ranges(conn, found[customer], file_defaults=fallback)
        if right is None:
            right_rows = defaults_view(conn, fallback)
        else:
            right_rows = store.effective_ranges(conn, found[right], file_defaults=fallback)
    return Comparison(customer, right, compare_views(left_rows, right_rows))


def check_against(customers: Collection[str], *, defaults: bool, all: bool) -> str:
    """The one customer ``--against`` compares; refuse every other selection."""
    if defaults or all or len(customers) != 1:
        raise UsageError(
            "--against needs exactly one --customer (and neither --defaults nor --all)",
            hint="kpictl diff --customer acme --against defaults",
        )
    return next(iter(customers))
