"""Scores: one customer's score card (``score SLUG``) and every customer's (``score --all``)."""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from kpictl.numbers import fmt_num, score_text
from kpictl.render.console import STATUS_STYLE, OutputFormat, Renderer, Segment
from kpictl.render.csvout import score_rows, write_csv
from kpictl.render.formats import chunked_stdout, write_json_records
from kpictl.render.ranges import band_text
from kpictl.render.table import Cell, Layout, Painter, Row, Styled, key, prose
from kpictl.render.text import cell_len, visible

if TYPE_CHECKING:
    from kpictl.scoring import KpiScore, Scoreboard, ScoreCard
    from kpictl.scoring import Summary as ScoreSummary


def render_score_card(
    renderer: Renderer, card: ScoreCard, output: OutputFormat, *, explain: bool = False
) -> None:
    """``score SLUG``: the headline, the trend, the KPI table, alerts, skipped KPIs."""
    if output.is_csv:  # one row per KPI, with the overall score and status
        write_csv("score", score_rows(card), output)
        return
    if output != OutputFormat.table:
        renderer.structured(card.as_dict(explain=explain), output)
        return
    out = renderer.print
    at = f", at {_iso_text(card.at)}" if card.at else ""
    out(
        (card.customer, "bold"),
        "  score ",
        (score_text(card.score), "bold"),
        "  ",
        (card.status, f"bold {STATUS_STYLE.get(card.status, '')}"),
        f"  coverage {coverage_text(card.coverage)}",
        (f"  ({card.model} model{at})", "dim"),
    )
    if card.min_coverage is not None and card.coverage < card.min_coverage:
        out(
            (
                f"insufficient data: coverage {coverage_text(card.coverage)} is under the"
                f" model's min_coverage {coverage_text(card.min_coverage)}"
                f" (by the score alone: {card.status_by_score})",
                STATUS_STYLE["insufficient_data"],
            )
        )
    if card.previous is not None:
        prev = card.previous
        change = card.change or 0.0
        arrow, style = ("▲", "green") if change > 0 else ("▼", "red") if change < 0 else ("=", None)
        sign = "-" if change < 0 else "+"
        out(
            f"previous {score_text(prev.score)} ({prev.status}) saved "
            f"{_iso_text(prev.computed_at)}; change ",
            (f"{sign}{fmt_num(round(abs(change), 2))} {arrow}", style),
        )
    else:
        out(("no previous saved score (kpictl score --all --save saves one)", "dim"))

    regression = card.model == "regression"
    # one origin for every value (the usual case): say it once instead of in a column
    origins = {_value_origin(kpi) for kpi in card.kpis}
    per_row = len(origins) > 1
    if len(origins) == 1:
        origin = origins.pop()
        text = f"values observed at {origin}" if origin[0].isdigit() else f"values from {origin}"
        out((text, "dim"))
    columns = ["kpi", "value", *(["observed (UTC)"] if per_row else []), "band", "status"]
    columns += ["term"] if regression else ["weight", "points"]
    table = renderer.table(*columns, "source")
    for kpi in card.kpis:
        cells: list[Cell] = [kpi.kpi_name, fmt_num(kpi.value)]
        if per_row:
            cells.append(_value_origin(kpi))
        cells += [band_text(kpi.band), Styled(kpi.status, STATUS_STYLE.get(kpi.status))]
        cells += [fmt_num(kpi.term)] if regression else [fmt_num(kpi.weight), fmt_num(kpi.points)]
        table.add_row(*cells, kpi.source or "")
    renderer.print_table(table)
    if explain:
        for line in _explain_lines(card):
            out(line, indent="          ")
    if card.alerts:
        out(("Alerts", "bold"))
        for alert in card.alerts:
            out(
                "  ",
                (f"{alert.status:<8}", STATUS_STYLE.get(alert.status)),
                f" {alert.kpi_name} = {fmt_num(alert.value)}",
                (f"  playbook: {alert.playbook or '(none)'}", "cyan"),
                indent="    ",
            )
    else:
        out(("No alerts.", "green"))
    if card.skipped:
        out(("Skipped", "bold"))
        for skipped in card.skipped:
            out((f"  {skipped.kpi_name}: {skipped.reason}", "dim"), indent="    ")


def _iso_text(value: datetime) -> str:
    """A time: ISO 8601 UTC, to the second, with a Z (kpictl.times)."""
    from kpictl.times import iso

    return iso(value)


def coverage_text(coverage: float | None) -> str:
    """A coverage (0-1) as a percentage: 0.4 is 40%, 0.4999 is 49.99%, never rounded up
    to the 50% it falls short of."""
    if coverage is None:
        return ""
    return fmt_num(math.floor(coverage * 10_000 + 1e-6) / 100) + "%"


def _operand(value: float | None) -> str:
    text = fmt_num(value)
    return f"({text})" if text.startswith("-") else text


def _value_origin(kpi: KpiScore) -> str:
    """Where a value comes from: its observation's time, --set or --values."""
    if kpi.value_source == "observation" and kpi.observed_at is not None:
        return _iso_text(kpi.observed_at)
    return {"set": "--set", "values": "--values"}.get(kpi.value_source, kpi.value_source)


def _explain_lines(card: ScoreCard) -> list[Segment]:
    """The arithmetic of a score, as lines of text."""
    lines: list[Segment] = [("How the score was computed", "bold")]
    if card.model == "ranges":
        counted = [k for k in card.kpis if k.points is not None]
        points = card.points or {}
        lines.append("  points: " + ", ".join(f"{name} {fmt_num(points[name])}" for name in points))
        numerator = " + ".join(f"{fmt_num(k.weight)}×{fmt_num(k.points)}" for k in counted)
        denominator = " + ".join(fmt_num(k.weight) for k in counted)
        lines.append("  score = Σ weight·points / Σ weight")
        lines.append(f"        = ({numerator}) / ({denominator})")
        scaled = (
            f" (the weights divided by {fmt_num(card.weight_scale)})"
            if card.weight_scale != 1.0
            else ""
        )
        lines.append(
            f"        = {fmt_num(card.weighted_sum)} / {fmt_num(card.total_weight)}"
            f" = {fmt_num(card.score)}{scaled}"
        )
    else:
        terms = [k for k in card.kpis if k.coefficient is not None]
        low, high = card.clamp or (0.0, 100.0)
        formula = " + ".join(
            [fmt_num(card.intercept)]
            + [f"{_operand(k.coefficient)} × {_operand(k.value)}" for k in terms]
        )
        sums = " + ".join([fmt_num(card.intercept)] + [_operand(k.term) for k in terms])
        lines.append("  score = intercept + Σ coefficient × value, clamped")
        lines.append(f"        = {formula}")
        lines.append(f"        = {sums} = {fmt_num(card.raw_score)}")
        clamped = (
            "unchanged" if card.raw_score == card.score else f"clamped to {fmt_num(card.score)}"
        )
        lines.append(f"  clamp [{fmt_num(low)}, {fmt_num(high)}]: {clamped}")
    by_score = card.status_by_score or card.status
    if card.health_range is not None:
        found = card.health_range.band(by_score) if by_score != "unknown" else None
        where = band_text(found) if found else "no band (a gap)"
        lines.append(
            f"  status: {by_score}, the health_score band {where} "
            f"({card.health_range_source} range)"
        )
    else:
        lines.append(f"  status: {by_score} (no health_score range: healthy ≥ 70, risk ≥ 40)")
    least = "none" if card.min_coverage is None else coverage_text(card.min_coverage)
    lines.append(
        f"  coverage: {coverage_text(card.coverage)} of the model's weight had a value"
        f" (min_coverage {least})" + (f": {card.status}" if card.status != by_score else "")
    )
    return lines


def render_score_summaries(
    renderer: Renderer,
    summaries: Scoreboard,
    output: OutputFormat,
    *,
    title: str,
) -> None:
    """``score --all``: one line per customer, worst first.

    Streamed: JSON and CSV record by record, the table in two passes (the column
    widths, then the lines), so nothing is held per customer beyond what ``summaries``
    holds (YAML, one document, is made whole).
    """
    if output == OutputFormat.json:
        write_json_records(s.as_dict() for s in summaries)
        return
    if output.is_csv:
        write_csv("score --all", (s.as_dict() for s in summaries), output)
        return
    if output != OutputFormat.table:
        renderer.structured([s.as_dict() for s in summaries], output)
        return

    # Laid out by the one table style in two passes (the column widths, then the lines),
    # not a Rich table: Rich took 75 s (and 250 MB) to lay out 100,000 customers. This
    # is linear and streams; a row that fits is one ljust-join (Layout.wide_line).
    if not len(summaries):
        renderer.info("no customers")
        return
    widths, reason_words = _summary_widths(summaries)
    longest = [0, 0, 0, 0, 0, 0, reason_words]
    layout = Layout(SUMMARY_COLUMNS, widths, longest, renderer.width)
    paint = Painter(renderer.colour_out)
    with chunked_stdout() as write:
        for line in layout.head(title, paint):
            write(line + "\n")
        if layout.mode == "wide":
            for cells in _summary_rows(summaries):
                write(paint(layout.wide_line(cells), STATUS_STYLE.get(cells[2])) + "\n")
        else:
            rows = (
                Row(tuple(Styled(c) for c in cells), STATUS_STYLE.get(cells[2]))
                for cells in _summary_rows(summaries)
            )
            for line in layout.rows(rows, paint):
                write(line + "\n")
    sys.stdout.flush()


SUMMARY_COLUMNS = (
    key("customer"),
    key("score"),
    key("status"),
    key("coverage"),
    key("model"),
    key("alerts"),
    prose("reason"),
)


def _summary_widths(board: Scoreboard) -> tuple[list[int], int]:
    """The width of each column of :func:`_summary_rows` (its header's at least) and the
    longest word of a reason, from the board's distinct values: each cell is a function
    of one field (the alerts of a customer without a score aside: empty), so the widest
    distinct value is the widest cell, without a pass over every summary."""
    widths = [len(c.header) for c in SUMMARY_COLUMNS]
    seen = board.distinct()
    plain = seen.every_slug.isascii() and seen.every_slug.isprintable()
    if plain:  # each slug is its own cell, as long as its bytes
        widths[0] = max(widths[0], seen.longest_slug)
    cells = itertools.chain(
        ((0, visible(v)) for v in ([] if plain else board.slugs())),
        ((1, _score_cell(v)) for v in seen.scores),
        ((2, v or "") for v in seen.statuses),
        ((3, coverage_text(v)) for v in seen.coverages),
        ((4, v or "") for v in seen.models),
        ((5, str(v)) for v in seen.alerts),
        ((6, visible(v) if v else "") for v in seen.reasons),
    )
    reason_words = 0
    for j, cell in cells:
        n = cell_len(cell)
        if n > widths[j]:
            widths[j] = n
        if j == 6 and cell:
            reason_words = max(reason_words, *(cell_len(w) for w in cell.split(" ")))
    return widths, reason_words


def _score_cell(score: float | None) -> str:
    return "" if score is None else score_text(score)


def _summary_rows(summaries: Iterable[ScoreSummary]) -> Iterator[tuple[str, ...]]:
    last, text = None, ""  # worst first: customers with one score come together
    last_cover, cover = None, ""  # and most have the same coverage (1: every KPI)
    for s in summaries:
        if s.score is None:
            score, alerts = "", ""
        else:
            if s.score != last:
                last, text = s.score, score_text(s.score)
            score, alerts = text, str(s.alerts)
        if s.coverage != last_cover:
            last_cover, cover = s.coverage, coverage_text(s.coverage)
        reason = visible(s.reason) if s.reason else ""
        yield (visible(s.customer), score, s.status or "", cover, s.model or "", alerts, reason)
