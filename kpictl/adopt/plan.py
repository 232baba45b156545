"""The adoption plan: what ``kpictl adopt`` would do, and what it found wrong. Pure data.

Every statement it would run (columns, constraints, indexes, tables, row-level
security, the first revisions, the schema version), each customer's slug, and the
faults of the stored rows with their ids: those that would break a constraint kpictl
adds refuse the adoption; the others are adopted and listed as what ``validate`` will
refuse in the exported files. :mod:`kpictl.adopt.steps` makes it; ``apply`` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kpictl.adopt.catalog import CatalogEntry
from kpictl.adopt.inspect import CUSTOMERS, RANGES, LegacyCustomer
from kpictl.adopt.slugs import SlugSource
from kpictl.errors import EXIT_PROBLEM, KpictlError, UsageError

ADOPTED_TABLES = (CUSTOMERS, RANGES)
FIRST_VERSION = 1


class NotAdoptable(UsageError):
    """The database is not one adoption knows how to take over (exit 2)."""


class AdoptionRefused(KpictlError):
    """Stored rows would break a constraint kpictl adds; nothing was changed (exit 1)."""

    exit_code = EXIT_PROBLEM


@dataclass(frozen=True, slots=True)
class Step:
    """One thing adoption does: a line of the plan and the statements that do it."""

    section: str  # customers, kpi_reference_ranges, tables, row-level security, ...
    sign: str  # "+" adds, "~" re-creates with the same name and meaning, "=" reuses
    text: str
    sql: tuple[str, ...] = ()
    kind: str = "sql"  # sql | fill_slugs | slug_not_null | tables | rls | revisions | stamp


@dataclass(frozen=True, slots=True)
class Fault:
    """A stored row (or customer) kpictl's rules refuse, with its ids."""

    message: str
    blocking: bool  # it would break a constraint adoption adds
    range_ids: tuple[int, ...] = ()
    customer_ids: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "blocking": self.blocking,
            "range_ids": list(self.range_ids),
            "customer_ids": list(self.customer_ids),
        }


@dataclass(slots=True)
class AdoptionPlan:
    dialect: str
    slug_source: SlugSource
    customers: list[LegacyCustomer]
    slugs: dict[int, str]
    rows: int
    steps: list[Step] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    revisions: list[dict[str, Any]] = field(default_factory=list)
    catalog: dict[str, CatalogEntry] = field(default_factory=dict)
    head: str = ""

    @property
    def blocking(self) -> list[Fault]:
        return [f for f in self.faults if f.blocking]

    @property
    def later(self) -> list[Fault]:
        return [f for f in self.faults if not f.blocking]

    def refuse_if_blocked(self) -> None:
        if self.blocking:
            n = len(self.blocking)
            raise AdoptionRefused(
                f"adoption refused: {n} problem{'s' if n != 1 else ''} in the stored data "
                "would break a constraint kpictl adds; nothing was changed",
                hint="fix the rows listed above in the application's database "
                "(or choose slugs with --slug-from), then run kpictl adopt again",
            )

    def lines(self) -> list[tuple[str | None, str]]:
        """The plan as styled lines (style, text) for the renderer."""
        style = {"+": "green", "~": "yellow", "=": "dim"}
        out: list[tuple[str | None, str]] = []
        section = None
        for step in self.steps:
            if step.section != section:
                section = step.section
                out.append(("bold", f"{section}:"))
            out.append((style.get(step.sign), f"  {step.sign} {step.text}"))
        out.append(("bold", f"slugs (--slug-from {self.slug_source}):"))
        names = {c.customer_id: c.name for c in self.customers}
        for cid in sorted(names):
            slug = self.slugs.get(cid)
            shown = slug if slug is not None else "(none: see the problems below)"
            out.append((None if slug else "red", f"  {cid:>6}  {names[cid]!s:<30} -> {shown}"))
        if not self.customers:
            out.append(("dim", "  (no customers)"))
        for note in self.notes:
            out.append(("yellow", f"note: {note}"))
        if self.blocking:
            out.append(("red", f"problems that refuse the adoption ({len(self.blocking)}):"))
            out += [("red", f"  ! {_fault_text(f)}") for f in self.blocking]
        if self.later:
            out.append(
                (
                    "yellow",
                    f"stored rows adopted as they are, that 'kpictl validate' will refuse "
                    f"in the exported files ({len(self.later)}):",
                )
            )
            out += [("yellow", f"  ? {_fault_text(f)}") for f in self.later]
        return out

    def records(self) -> list[dict[str, Any]]:
        """The plan as flat records with one fixed header (``-o csv``): steps, slugs, faults."""
        blank = dict.fromkeys(
            ("kind", "section", "action", "what", "customer_id", "slug", "range_ids")
        )
        out = [
            {**blank, "kind": "step", "section": s.section, "action": s.sign, "what": s.text}
            for s in self.steps
        ]
        out += [
            {
                **blank,
                "kind": "slug",
                "section": "customers",
                "what": c.name,
                "customer_id": c.customer_id,
                "slug": self.slugs.get(c.customer_id),
            }
            for c in self.customers
        ]
        out += [
            {
                **blank,
                "kind": "refusal" if f.blocking else "validate",
                "what": f.message,
                "customer_id": " ".join(str(i) for i in f.customer_ids) or None,
                "range_ids": " ".join(str(i) for i in f.range_ids) or None,
            }
            for f in self.faults
        ]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "steps": [{"section": s.section, "action": s.sign, "what": s.text} for s in self.steps],
            "slug_from": str(self.slug_source),
            "slugs": [
                {
                    "customer_id": c.customer_id,
                    "name": c.name,
                    "slug": self.slugs.get(c.customer_id),
                }
                for c in self.customers
            ],
            "faults": [f.as_dict() for f in self.faults],
            "notes": self.notes,
            "head": self.head,
        }


def _fault_text(fault: Fault) -> str:
    ids = []
    if fault.range_ids:
        ids.append("range_id " + ", ".join(str(i) for i in fault.range_ids))
    if fault.customer_ids and not fault.range_ids:
        ids.append("customer_id " + ", ".join(str(i) for i in fault.customer_ids))
    return f"{fault.message} [{'; '.join(ids)}]" if ids else fault.message
