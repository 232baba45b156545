"""kpictl schema: the JSON Schema of range files, for editors and CI."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from kpictl.cli.context import app_context
from kpictl.errors import EXIT_PROBLEM, UsageError
from kpictl.render import OutputFormat

if TYPE_CHECKING:
    from kpictl.rangefiles.model import FileKind


class FileKindChoice(str, Enum):
    catalog = "catalog"
    defaults = "defaults"
    customer = "customer"


class SchemaFormat(str, Enum):
    json = "json"
    yaml = "yaml"


def schema(
    ctx: typer.Context,
    kind: Annotated[
        FileKindChoice | None,
        typer.Option(
            "--kind",
            "-k",
            help="Only this kind of file [default: all three].",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        SchemaFormat,
        typer.Option("-o", "--output", help="Output format.", case_sensitive=False),
    ] = SchemaFormat.json,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-d",
            help="Write kpis.schema.json, defaults.schema.json and customer.schema.json "
            "into this directory instead of printing.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="With --output-dir: write nothing; exit 1 when a schema file there is "
            "missing or out of date.",
        ),
    ] = False,
    catalog: Annotated[
        bool | None,
        typer.Option(
            "--catalog/--no-catalog",
            help="Enumerate the KPI names of the ranges dir's kpis.yaml, so editors "
            "complete them [default: when kpis.yaml exists].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the JSON Schema of range files, for editors and CI.

    Without --kind, one object holds the three schemas by kind. --output-dir writes them
    as kpis.schema.json, defaults.schema.json and customer.schema.json; a range file
    whose first line is `# yaml-language-server: $schema=../schemas/defaults.schema.json`
    is then completed and checked as you type.

    Example:

        kpictl schema --output-dir schemas --check
    """
    from kpictl.rangefiles import schema as schemas

    app = app_context(ctx)
    if check and output_dir is None:
        raise UsageError("--check needs --output-dir", hint="kpictl schema -d schemas --check")
    if output_dir is not None and output != SchemaFormat.json:
        raise UsageError("schema files are JSON: -o yaml cannot go with --output-dir")
    kinds = [cast("FileKind", kind.value)] if kind else list(schemas.KINDS)
    known = None
    if kinds != ["catalog"] and catalog is not False:
        known = schemas.catalog_of(app.settings.ranges_dir, required=bool(catalog))
    built = schemas.range_file_schemas(known, kinds)

    if output_dir is None:
        data = next(iter(built.values())) if kind else built
        app.renderer.structured(data, OutputFormat(output.value))
        return
    if check:
        stale = schemas.stale_schemas(output_dir, built)
        if stale:
            app.renderer.error(
                "missing or out of date: " + ", ".join(str(path) for path in stale),
                f"run 'kpictl schema --output-dir {output_dir}' and commit the result",
            )
            raise typer.Exit(EXIT_PROBLEM)
        app.renderer.info(f"{output_dir}: {len(built)} schema file(s) up to date")
        return
    changed = schemas.write_schemas(output_dir, built)
    for path in changed:
        app.renderer.info(f"wrote {path}")
    if not changed:
        app.renderer.info(f"{output_dir}: {len(built)} schema file(s) up to date")
