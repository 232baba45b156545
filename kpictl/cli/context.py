"""What every command gets from the global options, and the options they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from kpictl.cli.completion import complete_customer
from kpictl.render import OutputFormat, Renderer
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    renderer: Renderer


def app_context(ctx: typer.Context) -> AppContext:
    obj = ctx.find_object(AppContext)
    if obj is None:  # a command called without the root callback (library use)
        obj = AppContext(Settings.resolve(), Renderer())
    return obj


Output = Annotated[
    OutputFormat,
    typer.Option("-o", "--output", help="Output format.", case_sensitive=False),
]
CustomerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--customer",
        "-c",
        help="Customer slug (repeat for several).",
        show_default=False,
        autocompletion=complete_customer,
    ),
]
LockTimeout = Annotated[
    float,
    typer.Option("--lock-timeout", help="Seconds to wait for another writer's lock.", min=0),
]
DEFAULT_LOCK = DEFAULT_LOCK_TIMEOUT
