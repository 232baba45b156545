"""The console of one kpictl run: colours, message lines, stdout and stderr.

Data goes to stdout, messages to stderr. Output is plain text with ANSI styles when
colour is wanted (``colour_wanted``: --no-color, FORCE_COLOR, NO_COLOR, a terminal);
Rich draws only the progress bar, so nothing kpictl prints is read as markup.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any, TextIO

from kpictl.numbers import fmt_num
from kpictl.render.table import Column, Painter, Table
from kpictl.render.text import cell_len, leading, visible, wrap_words

if TYPE_CHECKING:
    from rich.console import Console

    from kpictl.rangefiles.model import Problem
    from kpictl.render.plans import PlanDocument, PlanPrinter
    from kpictl.store import RangeRow

STATUS_STYLE = {
    "healthy": "green",
    "risk": "yellow",
    "critical": "red",
    "unknown": "dim",
    "insufficient_data": "magenta",
}


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"  # formula-like text cells neutralised for spreadsheets (docs/csv.md)
    csv_raw = "csv-raw"  # the same CSV, every cell exactly as the data has it

    @property
    def is_csv(self) -> bool:
        return self in (OutputFormat.csv, OutputFormat.csv_raw)


Segment = str | tuple[str, "str | None"]  # text, or (text, style)


def colour_wanted(stream: TextIO, *, no_color: bool = False) -> bool:
    """Whether to style ``stream``: never with --no-color; always with FORCE_COLOR; never
    with NO_COLOR; else when it is a terminal (not TERM=dumb)."""
    if no_color:
        return False
    if os.environ.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    if os.environ.get("NO_COLOR"):
        return False
    return stream.isatty() and os.environ.get("TERM") != "dumb"


class Renderer:
    """Owns the consoles, styles and formats of one kpictl run.

    Output is written with plain ANSI codes (no Rich markup: data can never steer it),
    every piece of data made visible (``text.visible``), laid out for the terminal's
    width (``terminal_width``) by the one table style of ``render.table``.
    """

    def __init__(self, *, no_color: bool = False) -> None:
        self.no_color = no_color
        self._err_console: Console | None = None

    # -- the terminal ----------------------------------------------------------------

    @property
    def colour_out(self) -> bool:
        return colour_wanted(sys.stdout, no_color=self.no_color)

    @property
    def colour_err(self) -> bool:
        return colour_wanted(sys.stderr, no_color=self.no_color)

    @property
    def width(self) -> int | None:
        """Columns to lay stdout out in: the terminal's (or COLUMNS); None when piped."""
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        if sys.stdout.isatty():
            import shutil

            return shutil.get_terminal_size().columns
        return None

    @property
    def err(self) -> Console:
        """A Rich console on stderr, for the progress bar only."""
        if self._err_console is None:
            from rich.console import Console

            colour = self.colour_err
            self._err_console = Console(
                stderr=True,
                color_system="auto" if colour else None,
                force_terminal=True if colour else None,
                no_color=not colour,
                highlight=False,
                emoji=False,
                markup=False,
            )
        return self._err_console

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
        text = visible(message.replace("\n", " "))
        if label:
            text = f"{label}: {text}"
        if sys.stderr.isatty():  # a person reads it: wrap between words, never in one
            import shutil

            width = shutil.get_terminal_size().columns
            text = "\n".join(wrap_words(text, width, indent="  "))
        if label:  # the text starts with "label:" still
            text = Painter(self.colour_err)(label + ":", style) + text[len(label) + 1 :]
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def problems(self, problems: Iterable[Problem]) -> None:
        from kpictl.render.problems import render_problems

        render_problems(self, problems)

    # -- data (stdout) ---------------------------------------------------------------

    def records(
        self,
        records: Sequence[dict[str, Any]],
        output: OutputFormat,
        *,
        columns: Sequence[Column | str] | None = None,
        title: str | None = None,
        csv: str | None = None,
    ) -> None:
        """Records as a table, or as JSON/YAML/CSV with every key."""
        if output == OutputFormat.table:
            cols = list(columns or (records[0].keys() if records else []))
            table = self.table(*cols, title=title)
            names = [c.header if isinstance(c, Column) else c for c in cols]
            for rec in records:
                table.add_row(*(fmt_num(rec.get(c)) for c in names))
            self.print_table(table)
        else:
            self.structured(list(records), output, csv=csv)

    def structured(self, data: Any, output: OutputFormat, *, csv: str | None = None) -> None:
        """JSON, YAML or CSV on stdout. CSV wants the command's name (``csv``: its
        header in ``render.csvout``) and flat records (a dict is one record)."""
        if output.is_csv and csv is not None:
            from kpictl.render.csvout import write_csv

            write_csv(csv, data if isinstance(data, list) else [data], output)
            return
        from kpictl.render.formats import write_structured

        write_structured(data, output)

    def table(self, *columns: Column | str, title: str | None = None) -> Table:
        return Table(columns, title=title)

    def print_table(self, table: Table) -> None:
        write = sys.stdout.write
        for line in table.lines(self.width, self.colour_out):
            write(line + "\n")
        sys.stdout.flush()

    def print(self, *segments: Segment, indent: str = "") -> None:
        """One line of styled segments on stdout, wrapped between words to the width
        (continuation lines start with ``indent``)."""
        paint = Painter(self.colour_out)
        if not paint.colour:
            text = "".join(visible(s if isinstance(s, str) else s[0]) for s in segments)
            self._write_wrapped(text, indent)
            return
        plain = "".join(s if isinstance(s, str) else s[0] for s in segments)
        width = self.width
        if width is not None and cell_len(plain) > width:  # wrapped lines lose their styles
            styles = {s[1] for s in segments if not isinstance(s, str)} - {None}
            style = styles.pop() if len(styles) == 1 else None
            for line in wrap_words(visible(plain), width, indent=indent):
                sys.stdout.write(paint(line, style) + "\n")
            return
        sys.stdout.write(
            "".join(
                visible(s) if isinstance(s, str) else paint(visible(s[0]), s[1]) for s in segments
            )
            + "\n"
        )

    def _write_wrapped(self, text: str, indent: str) -> None:
        width = self.width
        if width is None or cell_len(text) <= width:
            sys.stdout.write(text + "\n")
            return
        for line in wrap_words(text, width, indent=indent):
            sys.stdout.write(line + "\n")

    # -- presenters that callers reach through the renderer ---------------------------

    def ranges(self, rows: Sequence[RangeRow], output: OutputFormat, *, title: str | None) -> None:
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
        write_lines(sys.stdout.write, lines, colour=self.colour_out, width=self.width)
        sys.stdout.flush()


def write_lines(
    write: Callable[[str], Any],
    lines: Iterable[tuple[str | None, str]],
    *,
    colour: bool,
    width: int | None,
) -> None:
    """(style, text) lines, each made visible and wrapped between words to ``width``
    (continuation lines indented under the line's text)."""
    paint = Painter(colour)
    for style, text in lines:
        if not (text.isascii() and text.isprintable()):
            text = visible(text)
        if width is not None and len(text) > width:
            indent = leading(text) + "    "
            for part in wrap_words(text, width, indent=indent):
                write(paint(part, style) + "\n")
        elif colour and style:
            write(paint(text, style) + "\n")
        else:
            write(text + "\n")


# -- progress (stderr) -------------------------------------------------------------------

ProgressFn = Callable[[int, "int | None"], None]


@contextmanager
def progress(renderer: Renderer, description: str, *, unit: str) -> Iterator[ProgressFn]:
    """A progress bar on stderr while work runs, as a ``(done, total)`` callback.

    Only when both stderr and stdout are terminals: piped or captured runs stay quiet.
    Without colour (--no-color, NO_COLOR) there is no bar either: drawing one takes
    escape sequences, and then kpictl emits none.
    """
    if not (sys.stderr.isatty() and sys.stdout.isatty() and renderer.colour_err):
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
