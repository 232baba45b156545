"""kpictl customers: list, add and remove tenants."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kpictl.cli.context import Output, app_context
from kpictl.errors import ConfirmationRequired
from kpictl.render import OutputFormat, render_customers, visible

app = typer.Typer(help="Manage customers (tenants).", no_args_is_help=True)


@app.command("list")
def list_customers(ctx: typer.Context, output: Output = OutputFormat.table) -> None:
    """List customers with the number of their own ranges.

    Example:

        kpictl customers list -o csv
    """
    from kpictl import api

    ui = app_context(ctx)
    render_customers(ui.renderer, api.list_customers(ui.settings), output)


@app.command("add")
def add(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The customer's slug, e.g. acme.")],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Display name.")],
) -> None:
    """Add a customer with no ranges of its own (it sees the defaults).

    Example:

        kpictl customers add acme --name "Acme Corp"
    """
    from kpictl import api

    ui = app_context(ctx)
    created = api.add_customer(ui.settings, slug, name=name)
    ui.renderer.info(f"added customer {created.slug} ({created.name})")


@app.command("remove")
def remove(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The customer's slug.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a customer and everything of it: ranges, observations, scores, revisions.

    Example:

        kpictl customers remove acme --yes
    """
    from kpictl import api

    ui = app_context(ctx)
    if not yes:
        if not sys.stdin.isatty():
            raise ConfirmationRequired(
                f"refusing to remove customer {slug!r} without --yes", hint="add --yes"
            )
        typer.confirm(
            f"Remove customer {visible(slug)} and all its ranges, observations and scores?",
            abort=True,
        )
    removed = api.remove_customer(ui.settings, slug)
    ui.renderer.info(f"removed customer {removed.slug} and everything of it")
