"""kpictl verify-isolation: prove that no customer can see another customer's rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kpictl.cli.context import CustomerOpt, Output, app_context
from kpictl.errors import EXIT_PROBLEM, UsageError
from kpictl.render import OutputFormat, Renderer

if TYPE_CHECKING:
    from kpictl.isolation import IsolationReport

STATUS_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


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
    output: Output = OutputFormat.table,
) -> None:
    """Prove tenant isolation: run every check; exit 1 if any fails.

    --customer narrows the per-customer checks (and the PostgreSQL probe) to those
    customers; the schema, the defaults and orphan rows are always checked in full.

    Example:

        kpictl verify-isolation --junit isolation.xml
    """
    from kpictl import api

    app = app_context(ctx)
    report = api.verify_isolation(app.settings, customers=customer or [])
    if junit is not None:
        try:
            junit.write_text(report.junit_xml(), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the JUnit report {junit}: {exc.strerror}") from exc
    if output == OutputFormat.table:
        _show(app.renderer, report)
    elif output == OutputFormat.csv:
        app.renderer.structured([_flat(c.as_dict()) for c in report.checks], output)
    else:
        app.renderer.structured(report.as_dict(), output)
    _summary(app.renderer, report)
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEM)


def _show(renderer: Renderer, report: IsolationReport) -> None:
    from rich.text import Text

    scope = f" (customers: {', '.join(report.customers)})" if report.customers else ""
    table = renderer.table(
        "check", "result", "violations", "what it proves", title=f"tenant isolation{scope}"
    )
    for check in report.checks:
        table.add_row(
            check.name,
            Text(check.status, STATUS_STYLE[check.status]),
            str(len(check.violations)) if check.status != "skipped" else "",
            check.description,
        )
    renderer.out.print(table)
    for check in report.checks:
        if check.skipped:
            renderer.out.print(Text(f"{check.name}: {check.skipped}", "yellow"))
    for check in report.failed:
        details = renderer.table("table", "customer", "kpi", "rows", "problem", title=check.name)
        for v in check.violations:
            who = v.customer or (f"id {v.customer_id}" if v.customer_id is not None else "")
            rows = ", ".join(str(i) for i in v.row_ids)
            details.add_row(v.table or "", who, v.kpi_name or "", rows, Text(v.message, "red"))
        renderer.out.print(details)


def _summary(renderer: Renderer, report: IsolationReport) -> None:
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in STATUS_STYLE}
    parts = [f"{counts['passed']} passed"]
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed")
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} not applicable on {report.backend}")
    verdict = "isolation holds" if report.ok else "isolation is NOT proven"
    message = f"{len(report.checks)} checks: {', '.join(parts)}; {verdict}"
    if report.ok:
        renderer.info(message)
    else:
        renderer.error(message)


def _flat(check: dict[str, Any]) -> dict[str, Any]:
    """One CSV row per check: the violations as their messages."""
    return {
        "name": check["name"],
        "ok": check["ok"],
        "status": check["status"],
        "violations": "; ".join(v["message"] for v in check["violations"]),
        "reason": check.get("reason", ""),
    }
