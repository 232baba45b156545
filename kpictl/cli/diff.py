"""kpictl diff, export and history: drift between files and database, and the revision log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kpictl.cli.completion import complete_customer
from kpictl.cli.context import CustomerOpt, Output, app_context, refuse_together
from kpictl.errors import EXIT_PROBLEM
from kpictl.render import OutputFormat


def diff(
    ctx: typer.Context,
    customer: CustomerOpt = None,
    defaults: Annotated[bool, typer.Option("--defaults", help="Compare defaults.yaml.")] = False,
    all_: Annotated[
        bool,
        typer.Option("--all", help="Compare every file and every stored customer (the default)."),
    ] = False,
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="SLUG|defaults",
            help="Compare the effective ranges of --customer with this customer's, "
            "or with the system defaults.",
            show_default=False,
        ),
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Show what differs between the range files and the database; exit 1 if anything does.

    Per KPI and field (database -> file), the file's version against the recorded one,
    rows edited by hand since the last seed, and customers that have no file. With
    --against, the effective ranges of two scopes side by side instead.

    Exit 0: no difference; 1: differences; 2: bad usage or files; 3: database error.

    Example:

    \b
        kpictl diff -o json
        kpictl diff --customer acme --against defaults
    """
    from kpictl import api
    from kpictl.render import render_comparison, render_drift

    app = app_context(ctx)
    if against is not None:
        slug = api.check_against(customer or [], defaults=defaults, all=all_)
        comparison = api.compare(app.settings, slug, against)
        render_comparison(app.renderer, comparison, output)
        if comparison.differs:
            raise typer.Exit(EXIT_PROBLEM)
        return
    refuse_together(("--all", all_), ("--customer", customer))
    refuse_together(("--all", all_), ("--defaults", defaults))
    refuse_together(("--customer", customer), ("--defaults", defaults))
    report = api.diff(app.settings, customers=customer or [], defaults=defaults, all=all_)
    app.renderer.problems(report.warnings)
    render_drift(app.renderer, report, output)
    if report.differs:
        raise typer.Exit(EXIT_PROBLEM)


def export(
    ctx: typer.Context,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            "-c",
            metavar="SLUG",
            help="Export this customer's file.",
            autocompletion=complete_customer,
        ),
    ] = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Export the system defaults.")
    ] = False,
    output_file: Annotated[
        Path | None,
        typer.Option(
            "--output-file",
            help="Write the file here instead of to standard output.",
            metavar="FILE",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Export every scope, and a kpis.yaml, into --output-dir.")
    ] = False,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="With --all: the directory to write (defaults.yaml, customers/, kpis.yaml).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the stored ranges and scoring of one scope as a range file.

    The file validates and, seeded, changes nothing: export, then diff, shows no
    difference. Exit 1 when the stored data does not make a valid file (it is still
    written, with the problems on stderr).

    With --all --output-dir DIR: every scope as a ranges directory, plus a kpis.yaml
    for the KPIs found (entries inferred from the stored bands are marked for review).

    Example:

    \b
        kpictl export --customer acme --output-file ranges/customers/acme.yaml
        kpictl export --all --output-dir ranges
    """
    from kpictl import api
    from kpictl.render import write_document

    app = app_context(ctx)
    if all_ or output_dir is not None:
        from kpictl.cli.adopt import export_all

        export_all(app, customer, defaults, output_file, output_dir)
        return
    result = api.export(app.settings, customer=customer, defaults=defaults)
    if not result.recorded:
        app.renderer.warning(
            f"no revision is recorded for {customer or 'the defaults'}: "
            "the exported file says version 1"
        )
    if result.drift:
        kpis = ", ".join(d.kpi_name for d in result.drift)
        app.renderer.warning(
            f"the stored rows differ from revision v{result.version} ({kpis}): "
            "bump 'version' before seeding this file"
        )
    if output_file is not None:
        api.write_atomically(output_file, result.text)
        app.renderer.info(f"wrote {output_file} (version {result.version})")
    else:
        write_document(result.text)
    app.renderer.problems(result.problems)
    if result.errors:
        raise typer.Exit(EXIT_PROBLEM)


def history(
    ctx: typer.Context,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            "-c",
            metavar="SLUG",
            help="Only this customer's revisions.",
            autocompletion=complete_customer,
        ),
    ] = None,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Only the system defaults' revisions.")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            metavar="N",
            help="Show at most N revisions.",
            show_default=False,
        ),
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Show the revision log, newest first: version, when, who, counts, sha256.

    Example:

        kpictl history --customer acme --limit 5
    """
    from kpictl import api
    from kpictl.render import render_history

    refuse_together(("--customer", customer), ("--defaults", defaults))
    app = app_context(ctx)
    revisions = api.history(app.settings, customer=customer, defaults=defaults, limit=limit)
    render_history(app.renderer, revisions, output)
