"""Validate problems: ``validate`` and the warnings of ``seed`` and ``diff``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from kpictl.render.console import OutputFormat, Renderer

if TYPE_CHECKING:
    from kpictl.rangefiles.model import Problem


def render_problems(renderer: Renderer, problems: Iterable[Problem]) -> None:
    """Each problem as an ``error:`` or ``warning:`` line on stderr."""
    for p in problems:
        if p.severity == "error":
            renderer.error(str(p))
        else:
            renderer.warning(str(p))


def render_validation(
    renderer: Renderer, problems: Sequence[Problem], output: OutputFormat, *, failed: bool
) -> None:
    """``validate``: the problems, then the verdict (or the document with -o)."""
    if output.is_csv:  # one row per problem
        from kpictl.render.csvout import problem_row, write_csv

        write_csv("validate", map(problem_row, problems), output)
        return
    if output != OutputFormat.table:
        renderer.structured(
            {
                "ok": not failed,
                "problems": [
                    {
                        "path": p.path,
                        "line": p.line,
                        "where": p.where,
                        "message": p.message,
                        "severity": p.severity,
                    }
                    for p in problems
                ],
            },
            output,
        )
        return
    render_problems(renderer, problems)
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = sum(1 for p in problems if p.severity == "warning")
    summary = f"{errors} error(s), {warnings} warning(s)"
    renderer.info(("invalid: " if failed else "valid: ") + summary)
