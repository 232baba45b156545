"""Customers: ``customers list``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kpictl.render.console import OutputFormat, Renderer
from kpictl.render.table import prose

if TYPE_CHECKING:
    from kpictl.customers import CustomerInfo


def render_customers(
    renderer: Renderer, customers: Sequence[CustomerInfo], output: OutputFormat
) -> None:
    rows = [c.as_dict() for c in customers]
    if output == OutputFormat.table and not rows:
        renderer.info("no customers")
        return
    renderer.records(
        rows,
        output,
        columns=["slug", prose("name"), "own_ranges", "created_at"],
        csv="customers list",
    )
