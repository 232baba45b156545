"""Isolation: the ``verify-isolation`` report as a table, JSON/YAML/CSV and JUnit XML."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpictl.render.console import OutputFormat, Renderer
from kpictl.render.csvout import check_row, write_csv
from kpictl.render.table import Styled, prose

if TYPE_CHECKING:
    from kpictl.isolation import IsolationReport

CHECK_STATUS_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


def render_isolation(renderer: Renderer, report: IsolationReport, output: OutputFormat) -> None:
    """The checks and their violations, then the verdict line on stderr."""
    if output == OutputFormat.table:
        _show(renderer, report)
    elif output.is_csv:
        write_csv("verify-isolation", map(check_row, report.checks), output)
    else:
        renderer.structured(report.as_dict(), output)
    _summary(renderer, report)


def _show(renderer: Renderer, report: IsolationReport) -> None:
    scope = f" (customers: {', '.join(report.customers)})" if report.customers else ""
    table = renderer.table(
        "check", "result", "violations", prose("what it proves"), title=f"tenant isolation{scope}"
    )
    for check in report.checks:
        table.add_row(
            check.name,
            Styled(check.status, CHECK_STATUS_STYLE[check.status]),
            str(len(check.violations)) if check.status != "skipped" else "",
            check.description,
        )
    renderer.print_table(table)
    for check in report.checks:
        if check.skipped:
            renderer.print((f"{check.name}: {check.skipped}", "yellow"))
        elif check.note:
            renderer.print(f"{check.name}: {check.note}")
    for check in report.failed:
        details = renderer.table(
            "table", "customer", "kpi", prose("rows"), prose("problem"), title=check.name
        )
        for v in check.violations:
            who = v.customer or (f"id {v.customer_id}" if v.customer_id is not None else "")
            rows = ", ".join(str(i) for i in v.row_ids)
            details.add_row(v.table or "", who, v.kpi_name or "", rows, Styled(v.message, "red"))
        renderer.print_table(details)


def _summary(renderer: Renderer, report: IsolationReport) -> None:
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in CHECK_STATUS_STYLE}
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
