"""The one table style of kpictl, laid out so that nothing that matters is ever cut.

A table is a bold title, a bold header, a rule of dashes and one line per row, columns
two spaces apart, no box and no trailing spaces. Columns are *key* (status words,
numbers, slugs, KPI names: never cut, never wrapped) or *prose* (descriptions,
messages). When the table is wider than the terminal, prose gives way first:

1. ``wrap``: prose columns wrap within the width that the key columns leave;
2. ``below``: prose moves to lines of its own under its row, indented;
3. ``stacked``: if even the key columns do not fit, one block per record, a
   ``header: value`` line per column.

Piped output (no terminal, no ``COLUMNS``) has no width limit: one line per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from kpictl.render.text import ANSI, cell_len, visible, wrap_words

GAP = "   "  # three spaces between columns
MIN_PROSE = 24  # a prose column narrower than this reads badly: move it below instead
BELOW_INDENT = "    "


class Styled(NamedTuple):
    """A cell's text with its style (``"green"``, ``"bold red"``)."""

    text: str
    style: str | None = None


Cell = str | Styled


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    prose: bool = False


def key(header: str) -> Column:
    return Column(header)


def prose(header: str) -> Column:
    return Column(header, prose=True)


@dataclass(slots=True)
class Row:
    cells: tuple[Styled, ...]
    style: str | None = None  # for cells without a style of their own
    section_end: bool = False  # a blank line follows


def _cell(cell: Cell) -> Styled:
    if isinstance(cell, Styled):
        return Styled(visible(cell.text), cell.style)
    return Styled(visible(cell))


class Painter:
    """Applies styles as ANSI codes, or not at all (``--no-color``, ``NO_COLOR``, pipes)."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, style: str | None) -> str:
        if not (self.colour and style and text):
            return text
        codes = "".join(ANSI[s] for s in style.split() if s in ANSI)
        return f"{codes}{text}\x1b[0m" if codes else text


@dataclass(slots=True)
class Layout:
    """How a table's columns fit ``limit`` columns of terminal (None: no limit)."""

    columns: tuple[Column, ...]
    natural: list[int]  # the widest cell of each column, header included
    longest_word: list[int]
    limit: int | None
    mode: str = "wide"
    widths: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.widths = list(self.natural)
        limit = self.limit
        if limit is None or _total(self.natural) <= limit:
            return
        keys = [i for i, c in enumerate(self.columns) if not c.prose]
        proses = [i for i, c in enumerate(self.columns) if c.prose]
        fixed = sum(self.natural[i] for i in keys) + len(GAP) * (len(self.columns) - 1)
        if proses:
            mins = {i: min(self.natural[i], max(MIN_PROSE, self.longest_word[i])) for i in proses}
            spare = limit - fixed - sum(mins.values())
            if spare >= 0:
                self.mode = "wrap"
                for i in proses:
                    self.widths[i] = mins[i]
                for i in proses:  # the room left, to the columns that want it, in order
                    more = min(spare, self.natural[i] - self.widths[i])
                    self.widths[i] += more
                    spare -= more
                return
        key_width = sum(self.natural[i] for i in keys) + len(GAP) * (len(keys) - 1)
        self.mode = "below" if proses and key_width <= limit else "stacked"

    @classmethod
    def measure(
        cls, columns: Sequence[Column], rows: Iterable[Sequence[Styled]], limit: int | None
    ) -> Layout:
        natural = [cell_len(c.header) for c in columns]
        longest = [0] * len(columns)
        for cells in rows:
            for i, cell in enumerate(cells):
                n = cell_len(cell.text)
                if n > natural[i]:
                    natural[i] = n
                if columns[i].prose:
                    word = max((cell_len(w) for w in cell.text.split(" ")), default=0)
                    if word > longest[i]:
                        longest[i] = word
        return cls(tuple(columns), natural, longest, limit)

    def wide_line(self, texts: Sequence[str]) -> str:
        """One row of plain texts (already made visible) in the ``wide`` layout: the fast
        path of a table with 100,000 rows, the same line as ``rows`` draws unstyled."""
        if "".join(texts).isascii():
            return GAP.join(map(str.ljust, texts, self.widths)).rstrip()
        parts = []
        for text, width in zip(texts, self.widths, strict=True):
            pad = width - (len(text) if text.isascii() else cell_len(text))
            parts.append(text + " " * pad if pad > 0 else text)
        return GAP.join(parts).rstrip()

    # -- lines ---------------------------------------------------------------------------

    def _shown(self) -> list[int]:
        if self.mode == "below":
            return [i for i, c in enumerate(self.columns) if not c.prose]
        return list(range(len(self.columns)))

    def head(self, title: str | None, paint: Painter) -> Iterator[str]:
        if title:
            for line in wrap_words(visible(title), self.limit or 0):
                yield paint(line, "bold")
        if self.mode == "stacked":
            return
        shown = self._shown()
        header = [Styled(self.columns[i].header) for i in shown]
        yield paint(_join(header, [self.widths[i] for i in shown], None, Painter(False)), "bold")
        yield GAP.join("-" * self.widths[i] for i in shown)

    def rows(self, rows: Iterable[Row], paint: Painter) -> Iterator[str]:
        first = True
        for row in rows:
            if self.mode == "stacked":
                if not first:
                    yield ""
                yield from self._stacked(row, paint)
            else:
                yield from self._lines(row, paint)
                if row.section_end:
                    yield ""
            first = False

    def _lines(self, row: Row, paint: Painter) -> Iterator[str]:
        shown = self._shown()
        widths = [self.widths[i] for i in shown]
        if self.mode != "wrap":
            yield _join([row.cells[i] for i in shown], widths, row.style, paint)
        else:
            parts: list[list[str]] = []
            for i in shown:
                text = row.cells[i].text
                if self.columns[i].prose:
                    parts.append(_wrap_cell(text, self.widths[i]))
                else:
                    parts.append([text])
            for n in range(max(len(p) for p in parts)):
                cells = [
                    Styled(p[n] if n < len(p) else "", row.cells[i].style)
                    for p, i in zip(parts, shown, strict=True)
                ]
                yield _join(cells, widths, row.style, paint)
        if self.mode == "below":
            room = (self.limit or 0) - len(BELOW_INDENT)
            for i, column in enumerate(self.columns):
                cell = row.cells[i]
                if column.prose and cell.text.strip():
                    for line in _wrap_cell(cell.text, room):
                        yield BELOW_INDENT + paint(line, cell.style or row.style)

    def _stacked(self, row: Row, paint: Painter) -> Iterator[str]:
        label_width = max(cell_len(c.header) for c in self.columns) + 2
        room = (self.limit or 0) - label_width
        for column, cell in zip(self.columns, row.cells, strict=True):
            if not cell.text.strip():
                continue
            label = f"{column.header}:".ljust(label_width)
            style = cell.style or row.style
            lines = _wrap_cell(cell.text, room)  # between words: a word stays whole
            for n, line in enumerate(lines):
                yield ((label if n == 0 else " " * label_width) + paint(line, style)).rstrip()


def _total(widths: Sequence[int]) -> int:
    return sum(widths) + len(GAP) * (len(widths) - 1)


def _wrap_cell(text: str, width: int) -> list[str]:
    """A cell's lines (no trailing spaces: piped output has none)."""
    lines = wrap_words(text, width) if width > 0 else [text]
    return [line.rstrip() for line in lines]


def _join(cells: Sequence[Styled], widths: Sequence[int], style: str | None, paint: Painter) -> str:
    parts = []
    last = len(cells) - 1
    for n, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        pad = "" if n == last else " " * (width - cell_len(cell.text))
        parts.append(paint(cell.text, cell.style or style) + pad)
    return GAP.join(parts).rstrip()


class Table:
    """Rows collected, then laid out for the terminal's width and printed."""

    def __init__(self, columns: Sequence[Column | str], *, title: str | None = None) -> None:
        self.columns = tuple(c if isinstance(c, Column) else Column(c) for c in columns)
        self.title = title
        self.body: list[Row] = []

    def add_row(self, *cells: Cell, style: str | None = None, section_end: bool = False) -> None:
        self.body.append(Row(tuple(_cell(c) for c in cells), style, section_end))

    def lines(self, limit: int | None, colour: bool) -> Iterator[str]:
        layout = Layout.measure(self.columns, (r.cells for r in self.body), limit)
        paint = Painter(colour)
        yield from layout.head(self.title, paint)
        yield from layout.rows(self.body, paint)
