"""kpictl verify-isolation: prove that no customer can see another customer's rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kpictl.cli.context import CustomerOpt, Output, app_context
from kpictl.errors import EXIT_PROBLEM, UsageError
from kpictl.render import OutputFormat


def verify_isolation(
    ctx: typer.Context,
    customer: CustomerOpt = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            metavar="FILE",
            dir_okay=False,
            help="Also write a JUnit XML report to FILE, one testcase per check.",
        ),
    ] = None,
    probe: Annotated[
        str,
        typer.Option(
            "--probe",
            metavar="sample|all",
            help="PostgreSQL: probe row-level security as the tenant for a sample of "
            "customers (when the catalog proves the policies treat all alike; else all "
            "of them) or for every customer.",
        ),
    ] = "sample",
    output: Output = OutputFormat.table,
) -> None:
    """Prove tenant isolation: run every check; exit 1 if any fails.

    --customer narrows the per-customer checks (and the PostgreSQL probe) to those
    customers; the schema, the defaults and orphan rows are always checked in full.

    Example:

        kpictl verify-isolation --junit isolation.xml
    """
    from kpictl import api
    from kpictl.render.isolation import render_isolation
    from kpictl.render.junit import junit_xml

    app = app_context(ctx)
    report = api.verify_isolation(app.settings, customers=customer or [], probe=probe)
    if junit is not None:
        try:
            junit.write_text(junit_xml(report), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the JUnit report {junit}: {exc.strerror}") from exc
    render_isolation(app.renderer, report, output)
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEM)
