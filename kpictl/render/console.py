"""The console of one kpictl run: colours, message lines, stdout and stderr.

Data goes to stdout, messages to stderr. Rich is imported only when a table or a
coloured message is drawn, so fast commands stay fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any

from kpictl.render.numbers import fmt_num

if TYPE_CHECKING:
    from rich.console import Console

    from kpictl.rangefiles.model import Problem
    from kpictl.render.plans import PlanDocument, PlanPrinter

STATUS_STYLE = {"healthy": "green", "risk": "yellow", "critical": "red", "unknown": "dim"}

ANSI = {
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "red": "\x1b[31m",
    "magenta": "\x1b[35m",
    "cyan": "\x1b[36m",
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
}


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"


class Renderer:
    """Owns the consoles, styles and formats of one kpictl run."""

    def __init__(self, *, no_color: bool = False) -> None:
        self.no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self._out: Console | None = None
        self._err: Console | None = None

    # consoles are created on first use: importing Rich costs start-up time
    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = self._console(stderr=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = self._console(stderr=True)
        return self._err

    def _console(self, *, stderr: bool) -> Console:
        from rich.console import Console

        stream = sys.stderr if stderr else sys.stdout
        # Off a terminal (pipes, CI logs) Rich would assume 80 columns and squeeze tables.
        width = None if stream.isatty() or os.environ.get("COLUMNS") else 250
        return Console(
            stderr=stderr,
            no_color=self.no_color,
            highlight=False,
            emoji=False,
            width=width,
        )

    # -- messages (stderr) -----------------------------------------------------------

    def error(self, message: str, hint: str | None = None) -> None:
        self._message("error", "bold red", message)
        if hint:
            self._message("hint", "cyan", hint)

    def warning(self, message: str) -> None:
        self._message("warning", "yellow", message)

    def info(self, message: str) -> None:
        self._message(None, None, message)

    def _message(self, label: str | None, style: str | None, message: str) -> None:
        line = message.replace("\n", " ")
        if self.no_color or not sys.stderr.isatty():
            sys.stderr.write(f"{label}: {line}\n" if label else f"{line}\n")
            sys.stderr.flush()
            return
        from rich.text import Text

        text = Text()
        if label:
            text.append(f"{label}:", style=style)
            text.append(" ")
        text.append(line)
        self.err.print(text)

    def problems(self, problems: Iterable[Problem]) -> None:
        from kpictl.render.problems import render_problems

        render_problems(self, problems)

    # -- data (stdout) ---------------------------------------------------------------

    def records(
        self,
        records: Sequence[dict[str, Any]],
        output: OutputFormat,
        *,
        columns: Sequence[str] | None = None,
        title: str | None = None,
    ) -> None:
        """Records as a plain table, or as JSON/YAML/CSV with every key."""
        if output == OutputFormat.table:
            cols = list(columns or (records[0].keys() if records else []))
            table = self.table(*cols, title=title)
            for rec in records:
                table.add_row(*(fmt_num(rec.get(c)) for c in cols))
            self.out.print(table)
        else:
            self.structured(list(records), output)

    def structured(self, data: Any, output: OutputFormat) -> None:
        """JSON, YAML or CSV on stdout (CSV wants a list of flat records)."""
        from kpictl.render.formats import write_structured

        write_structured(data, output)

    def table(self, *columns: str, title: str | None = None) -> Any:
        from rich import box
        from rich.table import Table

        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        for col in columns:
            table.add_column(col, no_wrap=True)
        return table

    # -- presenters that callers reach through the renderer ---------------------------

    def ranges(self, rows: Sequence[Any], output: OutputFormat, *, title: str | None) -> None:
        from kpictl.render.ranges import render_ranges

        render_ranges(self, rows, output, title=title)

    def plan_printer(self) -> PlanPrinter:
        """For a plan that arrives a chunk at a time: add them, then ``finish``."""
        from kpictl.render.plans import PlanPrinter

        return PlanPrinter(self)

    def plan_document(self) -> PlanDocument:
        """For ``-o json`` of a plan that arrives a chunk at a time: add, then ``finish``."""
        from kpictl.render.plans import PlanDocument

        return PlanDocument()

    def lines(self, lines: Iterable[tuple[str | None, str]]) -> None:
        """Styled lines to stdout, fast: plans can have 100,000 lines, and Rich's
        per-line rendering costs milliseconds each, so colours are plain ANSI codes."""
        colour = not self.no_color and sys.stdout.isatty()
        write = sys.stdout.write
        for style, text in lines:
            if colour and style:
                write(f"{ANSI[style]}{text}\x1b[0m\n")
            else:
                write(text + "\n")
        sys.stdout.flush()


# -- progress (stderr) -------------------------------------------------------------------

ProgressFn = Callable[[int, "int | None"], None]


@contextmanager
def progress(renderer: Renderer, description: str, *, unit: str) -> Iterator[ProgressFn]:
    """A progress bar on stderr while work runs, as a ``(done, total)`` callback.

    Only when both stderr and stdout are terminals: piped or captured runs stay quiet.
    """
    if not (sys.stderr.isatty() and sys.stdout.isatty()):
        yield _no_progress
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        count,
        TimeElapsedColumn(),
        console=renderer.err,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _no_progress(done: int, total: int | None) -> None:
    return None
