"""kpictl observations: load KPI values from CSV, and show them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kpictl.cli.completion import complete_customer, complete_kpi
from kpictl.cli.context import DEFAULT_LOCK, LockTimeout, Output, app_context
from kpictl.render import OutputFormat

app = typer.Typer(help="Load and show KPI observations.", no_args_is_help=True)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help="CSV with the header customer,kpi_name,value,observed_at ('-': stdin).",
            metavar="FILE|-",
        ),
    ],
    lock_timeout: LockTimeout = DEFAULT_LOCK,
    output: Output = OutputFormat.table,
) -> None:
    """Load observations from CSV: all checked first, then one transaction.

    A repeated (customer, KPI, time) replaces the stored value. Any bad line (unknown
    customer or KPI, a value that is not a finite number, a bad time) writes nothing.

    Example:

        kpictl observations import samples/observations.csv
    """
    from kpictl import api
    from kpictl.render import progress

    app = app_context(ctx)
    source = sys.stdin.buffer if file == "-" else Path(file)
    with progress(app.renderer, "importing", unit="bytes") as on_progress:
        result = api.import_observations(
            app.settings,
            source,
            display="<stdin>" if file == "-" else file,
            lock_timeout=lock_timeout,
            on_progress=on_progress,
        )
    if output != OutputFormat.table:
        app.renderer.structured(result.as_dict(), output, csv="observations import")
    app.renderer.info(
        f"imported {result.rows} observation(s) from {result.source}: "
        f"{result.inserted} inserted, {result.replaced} replaced, {result.unchanged} unchanged"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    customer: Annotated[
        str,
        typer.Option(
            "--customer",
            "-c",
            metavar="SLUG",
            help="The customer's slug.",
            autocompletion=complete_customer,
        ),
    ],
    kpi: Annotated[
        str | None,
        typer.Option("--kpi", metavar="KPI", help="Only this KPI.", autocompletion=complete_kpi),
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Show a customer's observations, by KPI then time.

    Example:

        kpictl observations list --customer acme --kpi error_rate_pct
    """
    from kpictl import api
    from kpictl.render import render_observations

    app = app_context(ctx)
    rows = api.list_observations(app.settings, customer, kpi=kpi)
    title = f"observations of {customer}" + (f" ({kpi})" if kpi else "")
    render_observations(app.renderer, rows, output, title=title)
