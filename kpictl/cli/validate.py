"""kpictl validate: check range files without a database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kpictl.cli.context import Output, app_context
from kpictl.errors import EXIT_PROBLEM
from kpictl.render import OutputFormat, render_validation


def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="PATH",
            help="Files or directories to check [default: the ranges directory].",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output: Output = OutputFormat.table,
) -> None:
    """Check range files (syntax, catalog, bands) without touching a database.

    Exit 0 when valid, 1 when a file is invalid (or has warnings, with --strict).

    Example:

        kpictl validate ranges/customers/acme.yaml --strict
    """
    from kpictl.rangefiles import validate_paths

    app = app_context(ctx)
    problems = validate_paths(list(paths or []), app.settings.ranges_dir)
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    failed = bool(errors or (strict and warnings))
    render_validation(app.renderer, problems, output, failed=failed)
    if failed:
        raise typer.Exit(EXIT_PROBLEM)
