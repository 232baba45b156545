"""The stored rows judged by kpictl's rules, scope by scope. Pure.

Structural faults (two defaults for one KPI, rows of unknown customers, slugs) break a
constraint adoption adds and refuse it. Every scope is then checked as the range file
``export --all`` writes for it, by the same loader ``validate`` uses, so what is listed
is exactly what ``validate`` will refuse; the scopes that make valid files are recorded
as revision 1, so that ``export --all`` then ``diff --all`` find nothing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from kpictl.adopt.catalog import build_catalog
from kpictl.adopt.inspect import Found
from kpictl.adopt.plan import FIRST_VERSION, AdoptionPlan, Fault
from kpictl.adopt.slugs import SlugFault
from kpictl.rangefiles.model import Catalog, KpiRange, normalised_content
from kpictl.rangefiles.model import content_json as to_json
from kpictl.rangefiles.model import content_sha256 as to_sha256
from kpictl.rangefiles.rules import KPI_NAME_RE, KPI_NAME_RULE


def structural_faults(plan: AdoptionPlan, found: Found, slug_faults: list[SlugFault]) -> None:
    """Slugs, two rows for one scope and KPI, rows of unknown customers: all refuse."""
    for sf in slug_faults:
        plan.faults.append(
            Fault(
                sf.message + " (slugs must be unique and not null)",
                True,
                customer_ids=sf.customer_ids,
            )
        )
    known = {c.customer_id for c in found.customers}
    by_pair: dict[tuple[int | None, str], list[int]] = defaultdict(list)
    orphans: dict[int, list[int]] = defaultdict(list)
    for row in found.rows:
        by_pair[(row.customer_id, row.kpi_name)].append(row.range_id)
        if row.customer_id is not None and row.customer_id not in known:
            orphans[row.customer_id].append(row.range_id)
    for (cid, kpi), ids in sorted(by_pair.items(), key=lambda kv: kv[1][0]):
        if len(ids) < 2:
            continue
        if cid is None:
            what = (
                "uq_customer_kpi_name NULLS NOT DISTINCT"
                if found.backend.nulls_not_distinct
                else "uq_default_kpi_name"
            )
            plan.faults.append(
                Fault(
                    f"{len(ids)} system-default rows for {kpi} (break {what}): keep one",
                    True,
                    tuple(ids),
                )
            )
        else:
            plan.faults.append(
                Fault(
                    f"{len(ids)} rows of customer {cid} for {kpi} (break uq_customer_kpi_name)",
                    True,
                    tuple(ids),
                    (cid,),
                )
            )
    for cid, ids in sorted(orphans.items()):
        plan.faults.append(
            Fault(
                f"rows of customer_id {cid}, which is not in customers (they break the foreign "
                "key kpictl enforces, and belong to no tenant)",
                True,
                tuple(ids),
                (cid,),
            )
        )


def check_scopes(
    plan: AdoptionPlan, found: Found, existing: Catalog | None, applied_by: str, now: datetime
) -> None:
    """Check every scope as the range file export --all writes for it, and record the
    valid ones as revision 1, so that export --all then diff --all find nothing."""
    from kpictl.export import range_file_text
    from kpictl.rangefiles import load_range_file

    scopes: dict[int | None, dict[str, Any]] = {None: {}}
    scopes.update({cid: {} for cid in plan.slugs})
    range_ids: dict[tuple[int | None, str], int] = {}
    by_kpi: dict[str, list[KpiRange]] = defaultdict(list)
    for row in found.rows:
        if row.customer_id in scopes and (row.customer_id, row.kpi_name) not in range_ids:
            kpi_range = KpiRange.from_row(row.kpi_name, row.row())
            scopes[row.customer_id][row.kpi_name] = kpi_range
            range_ids[(row.customer_id, row.kpi_name)] = row.range_id
            by_kpi[row.kpi_name].append(kpi_range)
    plan.catalog = build_catalog(by_kpi, existing.kpis if existing else None)
    kpis = {k: e.definition for k, e in plan.catalog.items()}
    catalog = Catalog(path=Path("kpis.yaml"), kpis=kpis)
    if existing is not None:
        outside = sorted(k for k in by_kpi if k not in existing.kpis)
        if outside:
            plan.faults.append(
                Fault(
                    f"KPIs not in {existing.path}: {', '.join(outside)} (export --all adds them "
                    "to its kpis.yaml, marked for review)",
                    False,
                    tuple(sorted(i for (_, k), i in range_ids.items() if k in outside)),
                )
            )
    for kpi in sorted(k for k in by_kpi if not KPI_NAME_RE.fullmatch(k)):
        plan.faults.append(
            Fault(
                f"KPI name {kpi!r} is not valid in kpis.yaml: {KPI_NAME_RULE}",
                False,
                tuple(sorted(i for (_, k), i in range_ids.items() if k == kpi)),
            )
        )
    names = {c.customer_id: c.name for c in found.customers}
    for cid, ranges in scopes.items():
        slug = plan.slugs.get(cid) if cid is not None else None
        name = (names.get(cid) or slug) if cid is not None else None
        text = range_file_text(
            customer=slug, name=name, version=FIRST_VERSION, scoring=None, ranges=ranges
        )
        path = Path("customers", f"{slug}.yaml") if slug else Path("defaults.yaml")
        loaded, problems = load_range_file(path, catalog, display=str(path), data=text.encode())
        for p in problems:
            if p.severity != "error":
                continue
            named = p.where.split(".")[1] if p.where.startswith("ranges.") else None
            rid = range_ids.get((cid, named)) if named else None
            owner = "system default" if cid is None else f"customer {cid} ({slug})"
            plan.faults.append(
                Fault(
                    f"{owner} {p.where or path}: {p.message}",
                    False,
                    (rid,) if rid else (),
                    (cid,) if cid else (),
                )
            )
        if loaded is None:
            continue
        content = normalised_content(slug, name, None, ranges.values())
        plan.revisions.append(
            {
                "customer_id": cid,
                "scope": slug,
                "version": FIRST_VERSION,
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "content_sha256": to_sha256(content),
                "catalog_sha256": None,
                "applied_at": now,
                "applied_by": f"{applied_by} (kpictl adopt)",
                "adds": len(ranges),
                "changes": 0,
                "removes": 0,
                "scoring": None,
                "content": to_json(content),
            }
        )
