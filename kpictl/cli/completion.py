"""Shell completion of customer slugs and KPI names, from the ranges directory.

The shell runs kpictl on every TAB, so these read files only: customer slugs are the
stems of ``customers/*.yaml``, KPI names the keys of ``kpis.yaml``. Never the database
(no SQLAlchemy import, no connection), and never an error: a missing or broken file
completes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from kpictl.errors import KpictlError
from kpictl.settings import Settings


def ranges_dir(ctx: typer.Context) -> Path:
    """The ranges dir the command line names (--ranges, else KPICTL_RANGES_DIR, else ranges)."""
    given = ctx.find_root().params.get("ranges")
    try:
        return Settings.resolve(ranges=given).ranges_dir
    except KpictlError:  # an empty KPICTL_RANGES_DIR: complete nothing, say nothing
        return Path(os.devnull)


def customer_slugs(directory: Path) -> list[str]:
    """The slugs of the customer files of a ranges dir, sorted."""
    from kpictl.rangefiles.rules import CUSTOMERS_DIR, SLUG_RE

    try:
        entries = sorted((directory / CUSTOMERS_DIR).glob("*.yaml"))
    except OSError:
        return []
    return [p.stem for p in entries if SLUG_RE.fullmatch(p.stem) and p.is_file()]


def kpi_names(directory: Path) -> list[tuple[str, str]]:
    """(name, what it is) of every KPI in the catalog, in the catalog's order.

    Read leniently: a catalog that ``kpictl validate`` would refuse for another reason
    still completes its names.
    """
    from kpictl.rangefiles.rules import CATALOG_FILE, KPI_NAME_RE
    from kpictl.rangefiles.yamlstrict import MAX_BYTES, StrictYamlError, read_yaml

    try:
        with (directory / CATALOG_FILE).open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
        kpis = read_yaml(data).data.get("kpis")
    except (OSError, StrictYamlError, AttributeError):
        return []
    if not isinstance(kpis, dict):
        return []
    out = []
    for name, spec in kpis.items():
        if isinstance(name, str) and KPI_NAME_RE.fullmatch(name):
            out.append((name, _kpi_help(spec)))
    return out


def _kpi_help(spec: object) -> str:
    if not isinstance(spec, dict):
        return ""
    text = spec.get("description")
    unit = spec.get("unit")
    if isinstance(text, str) and isinstance(unit, str):
        return f"{text} ({unit})"
    return text if isinstance(text, str) else unit if isinstance(unit, str) else ""


def complete_customer(ctx: typer.Context, incomplete: str) -> list[str]:
    """Customer slugs that start with what was typed (and were not given already)."""
    given = ctx.params.get("customer")
    chosen = set(given) if isinstance(given, (list, tuple)) else set()
    return [
        slug
        for slug in customer_slugs(ranges_dir(ctx))
        if slug.startswith(incomplete) and slug not in chosen
    ]


def complete_kpi(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """KPI names of the catalog that start with what was typed, with their description."""
    return [
        (name, text) for name, text in kpi_names(ranges_dir(ctx)) if name.startswith(incomplete)
    ]


def complete_kpi_assignment(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """``KPI=`` for options that take KPI=VALUE (score --set), from the catalog."""
    if "=" in incomplete:
        return []
    return [
        (f"{name}=", text)
        for name, text in kpi_names(ranges_dir(ctx))
        if name.startswith(incomplete)
    ]
