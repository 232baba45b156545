"""The summary scorer of ``score --all`` against the card scorer of ``score SLUG``, for
any ranges (gaps, missing bands, weights of 0), values (NaN, infinities, health_score,
KPIs without a range) and models; the compact scoreboard against sorting the
summaries; the streamed JSON against json.dumps."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpictl.errors import InvalidInput, KpictlError
from kpictl.rangefiles.model import BOUND_COLUMNS, Band, KpiRange, Scoring
from kpictl.render import write_json_records
from kpictl.scoring import (
    HEALTH_SCORE,
    Scoreboard,
    Summary,
    compile_range,
    compile_row,
    points_of,
    range_of,
    score,
    summarize,
)

NAMES = ["a", "b", "c", "d", "e", HEALTH_SCORE]
bound = st.one_of(st.none(), st.sampled_from([-5.0, 0.0, 1.0, 2.5, 10.0, 1e6]))
value = st.one_of(
    st.sampled_from([-5.0, 0.0, 1.0, 2.5, 3.0, 10.0, 1e6, 1e300, -0.0]),
    st.floats(min_value=-1e7, max_value=1e7),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)
weight = st.sampled_from([0.0, -0.0, 0.1, 0.7, 1.0, 2.0, 3.0])


def worst_first(summaries: list[Summary]) -> list[Summary]:
    """Lowest score first; customers that could not be scored after the scored ones."""
    return sorted(
        summaries,
        key=lambda s: (s.score is None, s.score if s.score is not None else 0.0, s.customer),
    )


@st.composite
def kpi_range(draw: st.DrawFn, name: str) -> KpiRange:
    bands = {}
    for status in ("critical", "risk", "healthy"):
        if draw(st.booleans()):
            low, high = draw(bound), draw(bound)
            bands[status] = Band(low, high)  # even "any" (no bounds), even min >= max
    return KpiRange(name, weight=draw(weight), **bands)


models = st.one_of(
    st.just(Scoring(model="ranges")),
    st.builds(
        lambda least: Scoring(model="ranges", min_coverage=least),
        st.sampled_from([0.0, 0.3, 0.5, 1.0]),
    ),
    st.builds(
        lambda h, r, c: Scoring(model="ranges", points={"healthy": h, "risk": r, "critical": c}),
        st.sampled_from([100.0, 90.0, 0.0]),
        st.sampled_from([50.0, 33.3, -0.0]),
        st.sampled_from([0.0, 5.0, -10.0]),
    ),
    st.builds(
        lambda i, co, cl: Scoring(model="regression", intercept=i, coefficients=co, clamp=cl),
        st.one_of(st.none(), st.sampled_from([0.0, 52.14, -3.5])),
        st.dictionaries(st.sampled_from(NAMES), st.sampled_from([0.416, -3.1, 1e300, 0.0])),
        st.one_of(st.none(), st.just((5.0, 95.0))),
    ),
    st.just(Scoring(model="odd")),  # type: ignore[arg-type]  # a stored model kpictl never wrote
)


@st.composite
def customer(draw: st.DrawFn):
    ranges = {n: draw(kpi_range(n)) for n in draw(st.sets(st.sampled_from(NAMES)))}
    values = {n: draw(value) for n in draw(st.sets(st.sampled_from([*NAMES, "x"])))}
    return values, ranges, draw(models)


def by_card(values, ranges, model) -> Summary:
    try:
        card = score("c", values, ranges, model)
    except KpictlError as exc:
        return Summary("c", None, None, None, exc.message)
    return Summary(
        "c", card.model, card.score, card.status, alerts=len(card.alerts), coverage=card.coverage
    )


def same(a: Summary, b: Summary) -> bool:
    def nan_safe(x: float | None) -> object:
        return "nan" if x is not None and math.isnan(x) else x

    return (a.model, nan_safe(a.score), a.status, a.alerts, a.coverage) == (
        b.model,
        nan_safe(b.score),
        b.status,
        b.alerts,
        b.coverage,
    )


@settings(max_examples=400)
@given(customer())
def test_summarize_agrees_with_score(case) -> None:
    values, ranges, model = case
    expected = by_card(values, ranges, model)
    compiled = {k: compile_range(r) for k, r in ranges.items() if k != HEALTH_SCORE}
    health = compile_range(ranges[HEALTH_SCORE]) if HEALTH_SCORE in ranges else None
    got = summarize("c", values, compiled, model, points_of(model), health)
    if got is None:  # it hands the customers it cannot settle to score()
        assert expected.score is None
    else:
        assert same(got, expected), (got, expected)


@given(customer())
def test_a_compiled_range_gives_back_the_same_statuses(case) -> None:
    values, ranges, model = case
    back = {k: range_of(k, compile_range(r)) for k, r in ranges.items()}
    assert same(by_card(values, back, model), by_card(values, ranges, model))


@given(st.lists(bound, min_size=6, max_size=6), st.one_of(st.none(), weight))
def test_compile_row_is_compile_range_of_the_row(bounds, w) -> None:
    row = dict(zip(BOUND_COLUMNS, bounds, strict=True)) | {"weight": w, "playbook": None}
    expected = compile_range(KpiRange.from_row("k", row))
    got = compile_row(*bounds, w)
    assert repr(got) == repr(expected)  # nan == nan here


summaries = st.builds(
    Summary,
    st.text(alphabet="ab-z0é", min_size=1, max_size=4),
    st.sampled_from(["ranges", "regression"]),
    st.one_of(st.none(), st.sampled_from([0.0, -0.0, 12.5, 50.0, 100.0, 1e16, 3.25])),
    st.sampled_from(["healthy", "risk", "critical", "unknown", "insufficient_data"]),
    st.just(None),
    st.integers(min_value=0, max_value=9),
    st.sampled_from([0.0, 0.25, 1 / 3, 1.0]),
)


def _normalised(s: Summary) -> Summary:
    if s.score is None:
        return Summary(s.customer, s.model, None, None, "why not", 0, None)
    return s


@given(st.lists(summaries.map(_normalised), max_size=40))
def test_the_scoreboard_is_worst_first(items) -> None:
    board = Scoreboard()
    for i, s in enumerate(items):
        board.add(i, s)
    expected = worst_first(items)
    assert [s.as_dict() for s in board] == [s.as_dict() for s in expected]
    assert len(board) == len(items)
    assert [s.as_dict() for s in board.under(50.0)] == [
        s.as_dict() for s in expected if s.score is not None and s.score < 50.0
    ]
    assert [s.customer for s in board.unscored()] == [
        s.customer for s in expected if s.score is None
    ]
    assert [s.as_dict() for s in board.insufficient()] == [
        s.as_dict() for s in expected if s.status == "insufficient_data"
    ]
    assert [(i, s.as_dict()) for i, s in board.scored()] == [
        (i, s.as_dict()) for i, s in enumerate(items) if s.score is not None
    ]


records = st.lists(
    st.dictionaries(
        st.text(max_size=3),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(),
            st.lists(st.integers(), max_size=2),
        ),
        max_size=4,
    ),
    max_size=4,
)


@given(records)
def test_the_streamed_json_is_json_dumps(data) -> None:
    from kpictl.render import json_value

    try:
        expected = json.dumps(json_value(data), indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN or infinity: JSON has no such number, and kpictl writes none
        with (
            pytest.raises(InvalidInput, match="NaN or infinite"),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            write_json_records(data)
        return
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        write_json_records(data)
    assert out.getvalue() == expected + "\n"


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_the_json_writers_refuse_nan_and_infinity(number: float) -> None:
    from kpictl.render import OutputFormat, Renderer

    for write in (
        lambda: write_json_records([{"score": number}]),
        lambda: write_json_records([{"kpis": [{"value": number}]}]),
        lambda: Renderer(no_color=True).structured({"score": number}, OutputFormat.json),
    ):
        out = io.StringIO()
        with pytest.raises(InvalidInput, match="NaN or infinite"), contextlib.redirect_stdout(out):
            write()
        assert "NaN" not in out.getvalue() and "Infinity" not in out.getvalue()


def test_the_scoreboard_refuses_a_score_that_is_not_a_finite_number() -> None:
    board = Scoreboard()
    board.add(1, Summary("a", "regression", math.nan, "unknown", None, 0, 1.0))
    board.add(2, Summary("b", "ranges", math.inf, "healthy", None, 0, 1.0))
    board.add(3, Summary("c", "ranges", 10.0, "critical", None, 0, 1.0))
    assert [s.customer for s in board.under(math.inf)] == ["c"]
    assert [(s.customer, s.score) for s in board.unscored()] == [("a", None), ("b", None)]
    assert "not a finite number" in (board.unscored()[0].reason or "")
    assert [i for i, _s in board.scored()] == [3]


def test_the_scoreboard_keeps_any_number_of_distinct_models() -> None:
    board = Scoreboard()
    items = [Summary(f"c{i:03d}", f"model-{i}", float(i), "risk") for i in range(300)]
    items.append(Summary("odd", ["not", "hashable"], None, None, "malformed"))  # type: ignore[arg-type]
    for i, s in enumerate(items):
        board.add(i, s)
    assert [s.model for s in board] == [s.model for s in items]


class _Result:
    """A streamed result: batches, then maybe a failure."""

    def __init__(self, batches: int, fail: bool = False) -> None:
        self.batches, self.fail, self.read = batches, fail, 0

    def partitions(self, _size: int):
        for i in range(self.batches):
            self.read += 1
            yield [(i, j) for j in range(3)]
        if self.fail:
            raise RuntimeError("connection lost")


def test_read_ahead_gives_every_row_in_order_and_passes_failures_on() -> None:
    import threading

    import pytest

    from kpictl.scoring.inputs import read_ahead as _read_ahead

    assert list(_read_ahead(_Result(5))) == [(i, j) for i in range(5) for j in range(3)]
    rows = []
    with pytest.raises(RuntimeError, match="connection lost"):
        rows.extend(_read_ahead(_Result(2, fail=True)))
    assert len(rows) == 6
    # a reader closed early stops its thread (after at most a few batches)
    result = _Result(10_000)
    reader = _read_ahead(result, depth=2)
    next(reader)
    reader.close()
    assert result.read < 10
    assert not [t for t in threading.enumerate() if t.name == "kpictl-read-ahead"]


table_summaries = st.builds(
    Summary,
    st.text(alphabet="ab-z0é漢\x01\u202e", min_size=1, max_size=5),
    st.sampled_from(["ranges", "regression", "régression"]),
    st.one_of(st.none(), st.sampled_from([0.0, 12.5, 50.0, 100.0, 1e16, 3.25, 1 / 3])),
    st.sampled_from(["healthy", "risk", "critical", "unknown", "insufficient_data"]),
    st.sampled_from([None, "no values", "a reason with long-ish words", "漢字 \x07 bell"]),
    st.integers(min_value=0, max_value=120),
    st.one_of(st.none(), st.sampled_from([0.0, 0.25, 1 / 3, 1.0])),
)


@given(st.lists(table_summaries, max_size=30))
def test_a_board_is_laid_out_as_its_summaries_one_by_one(items) -> None:
    """score --all sizes its table from the board's distinct values
    (Scoreboard.distinct); the widths are those of a pass over every row."""
    from kpictl.render.scores import SUMMARY_COLUMNS, _summary_rows, _summary_widths
    from kpictl.render.text import cell_len

    board = Scoreboard()
    for i, s in enumerate(items):
        board.add(i, s)
    widths = [len(c.header) for c in SUMMARY_COLUMNS]
    reason_words = 0
    for cells in _summary_rows(list(board)):  # every row, as the table draws them
        widths = [max(w, cell_len(c)) for w, c in zip(widths, cells, strict=True)]
        if cells[6]:
            reason_words = max(reason_words, *(cell_len(w) for w in cells[6].split(" ")))
    assert _summary_widths(board) == (widths, reason_words)
