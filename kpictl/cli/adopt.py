"""kpictl adopt: take over an application's existing customers and ranges tables."""

from __future__ import annotations

from typing import Annotated

import typer

from kpictl.cli.context import Output, app_context
from kpictl.render import OutputFormat


def adopt(
    ctx: typer.Context,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Apply the plan (without it nothing changes).")
    ] = False,
    slug_from: Annotated[
        str,
        typer.Option(
            "--slug-from",
            metavar="name|column:COL|file:CSV",
            help="Where each customer's slug comes from: its name (lowercased, other "
            "characters to '-'), a column of customers, or a CSV file customer_id,slug.",
        ),
    ] = "name",
    output: Output = OutputFormat.table,
) -> None:
    """Adopt a database the application created: print the plan; apply it with --yes.

    Adds kpictl's columns (with defaults), constraints, tables and, on PostgreSQL,
    row-level security to an existing customers / kpi_reference_ranges schema, in one
    transaction, and stamps kpictl's schema version. Never drops, renames or rewrites
    the application's columns or rows. Exit 1 (nothing changed) when stored rows would
    break a constraint kpictl adds; they are listed with their ids.

    Example:

    \b
        kpictl --db postgresql://app@db/health adopt
        kpictl --db postgresql://app@db/health adopt --yes
        kpictl --db postgresql://app@db/health export --all --output-dir ranges
    """
    from kpictl import adopt as adopting

    app = app_context(ctx)
    result = adopting.adopt(app.settings, slug_from=slug_from, yes=yes)
    if result.plan is None:
        app.renderer.info(
            f"{result.url}: already managed by kpictl (schema revision "
            f"{result.managed_revision}); nothing to do"
        )
        return
    plan = result.plan
    if output == OutputFormat.table:
        app.renderer.lines(plan.lines())
    else:
        app.renderer.structured({**plan.as_dict(), "applied": result.applied}, output)
    plan.refuse_if_blocked()
    if result.applied:
        app.renderer.info(
            f"{result.url}: adopted; schema revision {plan.head}. Next: kpictl export --all "
            "--output-dir ranges, then kpictl validate and kpictl diff"
        )
    else:
        app.renderer.info("nothing was changed: run again with --yes to apply this plan")
