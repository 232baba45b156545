"""Ranges: ``list`` (stored and effective ranges) and ``diff --against`` (two scopes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kpictl.numbers import fmt_num
from kpictl.render.console import OutputFormat, Renderer
from kpictl.render.csvout import change_row, write_csv
from kpictl.render.table import Cell, Styled, prose

if TYPE_CHECKING:
    from kpictl.drift import Comparison
    from kpictl.rangefiles.model import Band
    from kpictl.store import RangeRow


def band_text(band: Band | None) -> str:
    if band is None:
        return ""
    if band.min is None and band.max is None:
        return "any"
    if band.min is None:
        return f"< {fmt_num(band.max)}"
    if band.max is None:
        return f"≥ {fmt_num(band.min)}"
    return f"{fmt_num(band.min)} – {fmt_num(band.max)}"


def render_ranges(
    renderer: Renderer, rows: Sequence[RangeRow], output: OutputFormat, *, title: str | None
) -> None:
    """``list``: one line per range (the owner's column when there are several owners)."""
    if output != OutputFormat.table:
        renderer.structured([r.as_dict() for r in rows], output, csv="list")
        return
    if not rows:
        renderer.info("no ranges")
        return
    show_owner = len({r.customer for r in rows}) > 1 or title is None
    cols = ["customer"] if show_owner else []
    table = renderer.table(
        *cols,
        "kpi",
        "critical",
        "risk",
        "healthy",
        "weight",
        prose("playbook"),
        "source",
        title=title,
    )
    for row in rows:
        r = row.range
        cells: list[Cell] = [row.customer or "(defaults)"] if show_owner else []
        cells += [
            row.kpi_name,
            _styled(band_text(r.critical), "red"),
            _styled(band_text(r.risk), "yellow"),
            _styled(band_text(r.healthy), "green"),
            fmt_num(r.weight),
            r.playbook or "",
            row.source,
        ]
        table.add_row(*cells)
    renderer.print_table(table)


def _styled(text: str, style: str) -> Styled:
    return Styled(text, style)


def render_comparison(renderer: Renderer, comparison: Comparison, output: OutputFormat) -> None:
    """``diff --against``: both sides of every KPI that differs, with their sources."""
    if output.is_csv:
        write_csv("diff --against", map(change_row, comparison.as_dict()["changes"]), output)
        return
    if output != OutputFormat.table:
        renderer.structured(comparison.as_dict(), output)
        return
    left, right = comparison.left, comparison.right_label
    if not comparison.differs:
        renderer.print(
            (f"No differences: {left} and {right} have the same effective ranges.", "bold")
        )
        return
    n = len(comparison.kpis)
    table = renderer.table(
        "kpi",
        "scope",
        "source",
        "critical",
        "risk",
        "healthy",
        "weight",
        prose("playbook"),
        title=f"effective ranges of {left} against {right}: "
        + (f"{n} KPIs differ" if n != 1 else "1 KPI differs"),
    )
    for kpi in comparison.kpis:
        changed = set(kpi.fields)
        for i, (label, row) in enumerate(((left, kpi.left), (right, kpi.right))):
            cells: list[Cell] = [kpi.kpi_name if i == 0 else "", label]
            if row is None:
                cells += ["(none)", "", "", "", "", ""]
            else:
                r = row.range
                cells += [
                    row.source,
                    _diff_cell(band_text(r.critical), "red", "critical", changed),
                    _diff_cell(band_text(r.risk), "yellow", "risk", changed),
                    _diff_cell(band_text(r.healthy), "green", "healthy", changed),
                    _diff_cell(fmt_num(r.weight), "", "weight", changed),
                    _diff_cell(r.playbook or "", "", "playbook", changed),
                ]
            table.add_row(*cells, section_end=i == 1)
    renderer.print_table(table)


def _diff_cell(text: str, style: str, column: str, changed: set[str]) -> Styled:
    differs = any(c == column or c.startswith(f"{column}_") for c in changed)
    return Styled(text, f"{style} bold".strip() if differs else style or None)
