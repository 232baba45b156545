"""kpictl init, seed and list: the commands that apply and show stored ranges."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kpictl.cli.completion import complete_customer, complete_kpi
from kpictl.cli.context import (
    DEFAULT_LOCK,
    CustomerOpt,
    LockTimeout,
    Output,
    app_context,
    refuse_together,
)
from kpictl.errors import UsageError
from kpictl.render import OutputFormat


def init(ctx: typer.Context) -> None:
    """Create or upgrade the database schema (and, on PostgreSQL, the isolation policies).

    Example:

        kpictl --db postgresql://postgres@localhost/health init
    """
    from kpictl import api

    app = app_context(ctx)
    result = api.init(app.settings)
    if result.before == result.after:
        app.renderer.info(f"{result.url}: schema is up to date (revision {result.after})")
    elif result.before is None:
        app.renderer.info(f"{result.url}: created schema (revision {result.after})")
    else:
        app.renderer.info(
            f"{result.url}: upgraded schema from revision {result.before} to {result.after}"
        )


def seed(
    ctx: typer.Context,
    customer: CustomerOpt = None,
    defaults: Annotated[bool, typer.Option("--defaults", help="Apply defaults.yaml.")] = False,
    all_: Annotated[
        bool, typer.Option("--all", help="Apply the defaults and every customer file.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; write nothing.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove stored rows that the files no longer have.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Apply even when the version rules refuse a file.")
    ] = False,
    lock_timeout: LockTimeout = DEFAULT_LOCK,
    output: Output = OutputFormat.table,
) -> None:
    """Apply range files to the database, in one transaction, after printing the plan.

    Example:

        kpictl seed --customer data-center --dry-run
    """
    from kpictl import api
    from kpictl.render import plan_changes, render_seed_changes

    refuse_together(("--all", all_), ("--customer", customer))
    refuse_together(("--all", all_), ("--defaults", defaults))
    app = app_context(ctx)
    renderer = app.renderer
    # the plan arrives a chunk at a time: a table is shown once it is whole and valid,
    # before anything is committed; a JSON document once the seed is done
    printer = renderer.plan_printer() if output == OutputFormat.table else None
    document = renderer.plan_document() if output == OutputFormat.json else None
    changes: list[dict[str, Any]] = []  # YAML and CSV: the plan's changes, held

    def show(plan: api.Plan) -> None:
        if printer is not None:
            printer.add(plan)
        elif document is not None:
            document.add(plan)
        else:
            changes.extend(plan_changes(plan))

    def planned(totals: api.PlanTotals) -> None:
        if printer is not None:
            printer.finish(totals)

    result = api.seed(
        app.settings,
        customers=customer or [],
        defaults=defaults,
        all=all_,
        dry_run=dry_run,
        prune=prune,
        force=force,
        lock_timeout=lock_timeout,
        on_plan=show,
        on_planned=planned,
    )
    renderer.problems(result.warnings)
    plan = result.plan
    if document is not None:
        document.finish(applied=result.applied, dry_run=result.dry_run)
    elif output != OutputFormat.table:
        render_seed_changes(
            renderer, changes, output, applied=result.applied, dry_run=result.dry_run
        )
    if result.dry_run:
        renderer.info("dry run: nothing was written")
    elif result.applied:
        renderer.info(
            f"applied: {plan.count('add')} added, {plan.count('change')} changed, "
            f"{plan.count('remove')} removed"
        )
    else:
        renderer.info("nothing to do: the database matches the files")


def list_(
    ctx: typer.Context,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            "-c",
            metavar="SLUG",
            help="Show this customer's effective ranges.",
            autocompletion=complete_customer,
        ),
    ] = None,
    own: Annotated[bool, typer.Option("--own", help="With --customer: only its own rows.")] = False,
    defaults: Annotated[bool, typer.Option("--defaults", help="Only the system defaults.")] = False,
    kpi: Annotated[
        str | None,
        typer.Option("--kpi", metavar="KPI", help="Only this KPI.", autocompletion=complete_kpi),
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Show stored ranges; with --customer, the ranges that apply to that customer.

    Example:

        kpictl list --customer data-center -o json
    """
    from kpictl import api

    refuse_together(("--customer", customer), ("--defaults", defaults))
    refuse_together(("--own", own), ("--defaults", defaults))
    if own and not customer:
        raise UsageError("--own needs --customer", hint="kpictl list --customer acme --own")
    app = app_context(ctx)
    rows = api.list_ranges(app.settings, customer=customer, own=own, defaults=defaults, kpi=kpi)
    if customer and not own:
        title = f"effective ranges of {customer}"
    elif customer:
        title = f"own ranges of {customer}"
    elif defaults:
        title = "system defaults"
    else:
        title = None
    app.renderer.ranges(rows, output, title=title)
