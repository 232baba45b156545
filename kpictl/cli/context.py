"""What every command gets from the global options, and the options they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from kpictl.cli.completion import complete_customer
from kpictl.errors import UsageError
from kpictl.render import OutputFormat, Renderer
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings

NO_DATABASE = frozenset({"validate", "schema"})
"""Commands that never open a database."""
WRITES = frozenset({"init", "seed", "customers add", "customers remove", "observations import"})
"""Commands that write to the database (seed --dry-run does not; score --save does)."""


@dataclass(slots=True)
class RunState:
    """Which command runs, for the messages of a run that stops early (Ctrl-C, SIGTERM,
    a closed standard output): filled in by :func:`app_context`."""

    command: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def database(self) -> bool:
        return self.command not in NO_DATABASE

    @property
    def writes(self) -> bool:
        if self.command == "seed":
            return not self.params.get("dry_run")
        if self.command == "score":
            return bool(self.params.get("save"))
        return self.command in WRITES

    def interrupted(self, word: str) -> tuple[str, str | None]:
        """The ``error:`` message and hint of a run stopped by a signal (``word`` is
        "interrupted" or "terminated")."""
        if self.command is None:
            return word, None
        stopped = f"{word}: {self.command} stopped before it finished"
        if not self.database:
            return stopped, None
        if not self.writes:
            return f"{stopped}; it writes nothing to the database", None
        return stopped, (
            f"{self.command} writes in one transaction, so the database has all of its "
            "changes or none: 'kpictl diff' and 'kpictl history' show which"
        )


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    renderer: Renderer
    run: RunState = field(default_factory=RunState)


def app_context(ctx: typer.Context) -> AppContext:
    """The global options' context of a command; records which command runs."""
    obj = ctx.find_object(AppContext)
    if obj is None:  # a command called without the root callback (library use)
        obj = AppContext(Settings.resolve(), Renderer())
    names = []
    node: Any = ctx
    while node is not None and node.parent is not None:
        names.append(node.info_name or "")
        node = node.parent
    obj.run.command = " ".join(reversed(names)) or None
    obj.run.params = dict(ctx.params)
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
        metavar="SLUG",
        help="Customer slug (repeat for several).",
        show_default=False,
        autocompletion=complete_customer,
    ),
]
LockTimeout = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        metavar="SECONDS",
        help="Seconds to wait for another writer's lock.",
        min=0,
    ),
]
DEFAULT_LOCK = DEFAULT_LOCK_TIMEOUT


def refuse_together(*given: tuple[str, object], why: str | None = None) -> None:
    """The one rule for options that exclude each other: ``given`` is (option, value)
    pairs; when two or more of them are set, exit 2 naming both."""
    named = [name for name, value in given if value not in (None, False, [], ())]
    if len(named) > 1:
        message = f"{named[0]} and {named[1]} do not go together"
        raise UsageError(f"{message}: {why}" if why else message)
