"""kpictl adopt: take over an application's existing customers and ranges tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kpictl.cli.context import DEFAULT_LOCK, AppContext, LockTimeout, Output, app_context
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
    lock_timeout: LockTimeout = DEFAULT_LOCK,
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
    result = adopting.adopt(app.settings, slug_from=slug_from, yes=yes, lock_timeout=lock_timeout)
    if result.plan is None:
        app.renderer.info(
            f"{result.url}: already managed by kpictl (schema revision "
            f"{result.managed_revision}); nothing to do"
        )
        return
    plan = result.plan
    if output == OutputFormat.table:
        app.renderer.lines(plan.lines())
    elif output.is_csv:
        app.renderer.structured(plan.records(), output, csv="adopt")
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


def export_all(
    app: AppContext,
    customer: str | None,
    defaults: bool,
    output_file: Path | None,
    output_dir: Path | None,
) -> None:
    """``kpictl export --all --output-dir DIR`` (the export command hands over to it)."""
    from kpictl.adopt.exportall import export_all as write_all
    from kpictl.errors import EXIT_PROBLEM, UsageError

    if output_dir is None:
        raise UsageError(
            "--all writes a directory: give --output-dir DIR",
            hint="kpictl export --all --output-dir ranges",
        )
    if customer is not None or defaults or output_file is not None:
        raise UsageError(
            "--all exports every scope: leave out --customer, --defaults and --output-file"
        )
    result = write_all(app.settings, output_dir)
    for written in result.files:
        if written.kind == "catalog":
            app.renderer.info(f"wrote {written.path}")
        else:
            placeholder = "" if written.recorded else " (no revision recorded: a placeholder)"
            app.renderer.info(f"wrote {written.path} (version {written.version}{placeholder})")
    if result.reviews:
        app.renderer.warning(
            f"{len(result.reviews)} KPI definitions in kpis.yaml were inferred and are marked "
            f"'# review:' (unit unknown): {', '.join(result.reviews)}"
        )
    for path in result.left:
        app.renderer.warning(f"{path} was left as it is: no customer in the database has it")
    app.renderer.problems(result.problems)
    if result.errors:
        raise typer.Exit(EXIT_PROBLEM)
