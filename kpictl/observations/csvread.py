"""Reading observation CSV strictly: every bad line and cell named, nothing raised
until the caller asks for :meth:`CsvReader.failure`."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from kpictl.errors import InvalidInput
from kpictl.observations.values import parse_number, parse_timestamp, shown

OBSERVATION_COLUMNS = ("customer", "kpi_name", "value", "observed_at")
_TIME_CACHE_SIZE = 65_536  # observations share their times: parse each text once
MAX_SHOWN_PROBLEMS = 5

MAX_LINE_CHARS = 1_048_576
"""A CSV line longer than this (1 MiB of characters) is refused: files are streamed a
line at a time, and one endless line must not be read into memory."""


class _LineTooLong(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


ProgressCallback = Callable[[int, int | None], None]
"""Called as ``(bytes read, total bytes or None)`` while a file is read."""


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """One bad cell or line of a CSV file."""

    display: str
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f" column {self.column}" if self.column else ""
        return f"{self.display}:{self.line}{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One valid data line."""

    line: int
    customer: str | None
    kpi_name: str
    value: float
    observed_at: datetime | None


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from a binary stream, for the progress bar."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0
        self.newlines = 0  # in the bytes read so far

    def line_of(self, exc: UnicodeDecodeError) -> int:
        """The line of an undecodable byte: the decoder works on whole chunks, ahead of
        the lines the CSV reader has handed out, so count back from what was read."""
        after = bytes(exc.object[exc.start :]).count(b"\n")
        return max(1, self.newlines - after + 1)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self.newlines += data.count(b"\n")
        return n


@dataclass(slots=True)
class CsvReader:
    """Reads and checks a CSV stream line by line; collects problems instead of raising.

    ``required`` columns must be in the header and ``optional`` ones may be; no other
    column is accepted. ``customers`` and ``kpis``, when given, are what a customer
    slug and a KPI name must be among.
    """

    stream: IO[bytes]
    display: str
    required: tuple[str, ...] = OBSERVATION_COLUMNS
    optional: tuple[str, ...] = ()
    customers: Collection[str] | None = None
    kpis: Collection[str] | None = None
    problems: list[CsvProblem] = field(default_factory=list)
    problem_count: int = 0
    rows_read: int = 0
    _counter: _CountingReader | None = None
    _times: dict[str, datetime] = field(default_factory=dict)  # parsed times, by their text

    @property
    def bytes_read(self) -> int:
        return self._counter.count if self._counter else 0

    def problem(self, line: int, column: str | None, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_SHOWN_PROBLEMS:
            self.problems.append(CsvProblem(self.display, line, column, message))

    def __iter__(self) -> Iterator[CsvRow]:
        self._counter = _CountingReader(self.stream)
        text = io.TextIOWrapper(
            io.BufferedReader(self._counter, buffer_size=1 << 16),
            encoding="utf-8-sig",
            newline="",
        )
        reader = csv.reader(self._lines(text))
        line = 1
        try:
            header = next(reader, None)
            if header is None:
                self.problem(1, None, f"empty file: expected the header {self._wanted()}")
                return
            columns = self._header(header)
            if columns is None:
                return
            width = len(header)
            at = {name: columns.index(name) for name in columns}
            for fields in reader:
                line = reader.line_num
                if len(fields) != width:
                    if not fields or (len(fields) == 1 and not fields[0].strip()):
                        continue  # a blank line
                    self.problem(line, None, f"expected {width} fields, got {len(fields)}")
                    continue
                row = self._row(line, fields, at)
                if row is not None:
                    self.rows_read += 1
                    yield row
        except _LineTooLong as exc:
            self.problem(
                exc.line,
                None,
                f"line is longer than {MAX_LINE_CHARS:,} characters: not read further",
            )
        except UnicodeDecodeError as exc:
            self.problem(self._counter.line_of(exc), None, f"not valid UTF-8 ({exc.reason})")
        except csv.Error as exc:
            self.problem(reader.line_num or line, None, f"not valid CSV: {exc}")

    @staticmethod
    def _lines(text: IO[str]) -> Iterator[str]:
        """The stream's lines, none longer than MAX_LINE_CHARS: a file of one endless
        line (``/dev/zero``, a 126 MB line) is refused, not read into memory."""
        number = 0
        while True:
            piece = text.readline(MAX_LINE_CHARS + 1)
            if not piece:
                return
            number += 1
            if len(piece) > MAX_LINE_CHARS:
                raise _LineTooLong(number)
            yield piece

    def _wanted(self) -> str:
        return ",".join(self.required)

    def _header(self, header: list[str]) -> list[str] | None:
        columns = [h.strip().lower() for h in header]
        allowed = set(self.required) | set(self.optional)
        unknown = [c for c in columns if c not in allowed]
        missing = [c for c in self.required if c not in columns]
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if unknown or missing or repeated:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(missing))
            if unknown:
                parts.append("unknown " + ", ".join(repr(c) for c in unknown))
            if repeated:
                parts.append("repeated " + ", ".join(repeated))
            self.problem(1, None, f"bad header ({'; '.join(parts)}): expected {self._wanted()}")
            return None
        return columns

    def _row(self, line: int, fields: list[str], at: dict[str, int]) -> CsvRow | None:
        before = self.problem_count
        customer = None
        if "customer" in at:
            customer = fields[at["customer"]]
            if self.customers is None or customer not in self.customers:
                customer = customer.strip()
                if self.customers is not None and customer not in self.customers:
                    self.problem(line, "customer", f"unknown customer {shown(customer)}")
        kpi = fields[at["kpi_name"]]
        if self.kpis is None or kpi not in self.kpis:
            kpi = kpi.strip()
            if self.kpis is not None and kpi not in self.kpis:
                self.problem(line, "kpi_name", f"unknown KPI {shown(kpi)}")
        value = math.nan
        try:
            value = parse_number(fields[at["value"]])
        except ValueError as exc:
            self.problem(line, "value", str(exc))
        observed_at = None
        if "observed_at" in at:
            stamp = fields[at["observed_at"]]
            observed_at = self._times.get(stamp)
            if observed_at is None:
                try:
                    observed_at = parse_timestamp(stamp)
                except ValueError as exc:
                    self.problem(line, "observed_at", str(exc))
                else:
                    if len(self._times) >= _TIME_CACHE_SIZE:
                        self._times.clear()
                    self._times[stamp] = observed_at
        if self.problem_count > before:
            return None
        return CsvRow(line, customer, kpi, value, observed_at)

    def failure(self, *, writes: bool = True) -> InvalidInput:
        """The problems as one error line: the first few, then how many more; with
        ``writes`` (an import), that nothing was written."""
        shown = "; ".join(str(p) for p in self.problems)
        more = self.problem_count - len(self.problems)
        if more > 0:
            shown += f"; and {more} more problem{'s' if more != 1 else ''}"
        columns = {p.column for p in self.problems}
        if "customer" in columns:
            hint = "'kpictl seed' or 'kpictl customers add' creates customers"
        elif "kpi_name" in columns:
            hint = "KPI names are those of the catalog (kpis.yaml)"
        else:
            hint = (
                f"the header is {','.join(self.required)}; values are finite numbers, "
                "times ISO 8601 (UTC without a zone)"
            )
        return InvalidInput(f"{shown}; nothing was written" if writes else shown, hint=hint)
