"""Observations: ``observations list``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kpictl.render.console import OutputFormat, Renderer

if TYPE_CHECKING:
    from kpictl.observations import Observation


def render_observations(
    renderer: Renderer, rows: Sequence[Observation], output: OutputFormat, *, title: str
) -> None:
    """``observations list``."""
    records = [r.as_dict() for r in rows]
    if output == OutputFormat.table and not records:
        renderer.info("no observations")
        return
    renderer.records(
        records,
        output,
        columns=["kpi_name", "observed_at", "value"],
        title=title,
        csv="observations list",
    )
