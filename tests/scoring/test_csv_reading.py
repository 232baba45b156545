"""Strict reading of observation CSV and of values: numbers, times, lines and columns."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from kpictl.observations import CsvReader, parse_number, parse_timestamp


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12.0), ("-0.5", -0.5), (" 3 ", 3.0), ("1e6", 1e6), (".5", 0.5), ("+2.", 2.0)],
)
def test_numbers(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text", ["", "abc", "nan", "NaN", "inf", "-Infinity", "1_000", "0x10", "true", "1,5", "1e999"]
)
def test_not_numbers(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a (finite )?number"):
        parse_number(text)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-27T06:00:00Z", datetime(2026, 11, 27, 6, tzinfo=timezone.utc)),
        ("2026-11-27T06:00:00", datetime(2026, 11, 27, 6, tzinfo=timezone.utc)),  # no zone: UTC
        ("2026-11-27 06:00", datetime(2026, 11, 27, 6, tzinfo=timezone.utc)),
        ("2026-11-27T08:00:00+02:00", datetime(2026, 11, 27, 6, tzinfo=timezone.utc)),
        ("2026-11-27", datetime(2026, 11, 27, tzinfo=timezone.utc)),
    ],
)
def test_times_are_iso_8601_and_stored_in_utc(text: str, utc: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == utc
    assert parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "27/11/2026", "2026-11-27T25:00"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def read(text: str, **kwargs) -> tuple[list, CsvReader]:
    reader = CsvReader(io.BytesIO(text.encode()), "obs.csv", **kwargs)
    return list(reader), reader


HEADER = "customer,kpi_name,value,observed_at\n"


def test_good_rows_are_read_and_blank_lines_skipped() -> None:
    rows, reader = read(
        "\ufeff" + HEADER + "acme,error_rate_pct,1.5,2026-11-27T06:00:00Z\n\n"
        "globex,p95_latency_ms,300,2026-11-27\n",
        customers={"acme", "globex"},
        kpis={"error_rate_pct", "p95_latency_ms"},
    )
    assert reader.problem_count == 0
    assert [(r.line, r.customer, r.kpi_name, r.value) for r in rows] == [
        (2, "acme", "error_rate_pct", 1.5),
        (4, "globex", "p95_latency_ms", 300.0),
    ]


def test_the_header_may_list_the_columns_in_any_order() -> None:
    rows, reader = read("observed_at,value,kpi_name,customer\n2026-11-27,1,error_rate_pct,acme\n")
    assert reader.problem_count == 0 and rows[0].customer == "acme"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "obs.csv:1: empty file"),
        ("customer,kpi,value,observed_at\n", "obs.csv:1: bad header (missing kpi_name; unknown"),
        (HEADER + "acme,error_rate_pct,x,2026-11-27\n", "obs.csv:2 column value: 'x' is not"),
        (HEADER + "acme,error_rate_pct,inf,2026-11-27\n", "obs.csv:2 column value: 'inf'"),
        (HEADER + "acme,error_rate_pct,1,someday\n", "obs.csv:2 column observed_at: 'someday'"),
        (HEADER + "nobody,error_rate_pct,1,2026-11-27\n", "obs.csv:2 column customer: unknown"),
        (HEADER + "acme,errors,1,2026-11-27\n", "obs.csv:2 column kpi_name: unknown KPI 'errors'"),
        (HEADER + "acme,error_rate_pct,1\n", "obs.csv:2: expected 4 fields, got 3"),
    ],
)
def test_each_bad_input_names_the_line_and_column(content: str, expected: str) -> None:
    rows, reader = read(content, customers={"acme"}, kpis={"error_rate_pct"})
    assert rows == []
    assert reader.problem_count == 1
    assert str(reader.problems[0]).startswith(expected), str(reader.problems[0])
    assert "nothing was written" in reader.failure().message


def test_many_problems_are_counted_and_the_first_few_shown() -> None:
    lines = "".join(f"acme,error_rate_pct,bad{i},2026-11-27\n" for i in range(12))
    _rows, reader = read(HEADER + lines, customers={"acme"}, kpis={"error_rate_pct"})
    assert reader.problem_count == 12
    message = reader.failure().message
    assert message.startswith("obs.csv:2 column value:")
    assert "and 7 more problems; nothing was written" in message


def test_invalid_utf8_is_a_problem_not_a_crash() -> None:
    reader = CsvReader(io.BytesIO(HEADER.encode() + b"acme,error\xff,1,2026-11-27\n"), "obs.csv")
    assert list(reader) == []
    assert "not valid UTF-8" in str(reader.problems[0])
