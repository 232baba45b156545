"""Scores: one customer's score card (``score SLUG``) and every customer's (``score --all``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kpictl.render.console import STATUS_STYLE, OutputFormat, Renderer
from kpictl.render.formats import write_json_records
from kpictl.render.numbers import fmt_num, score_text
from kpictl.render.ranges import band_text

if TYPE_CHECKING:
    from kpictl.scoring import KpiScore, Scoreboard, ScoreCard
    from kpictl.scoring import Summary as ScoreSummary


def render_score_card(
    renderer: Renderer, card: ScoreCard, output: OutputFormat, *, explain: bool = False
) -> None:
    """``score SLUG``: the headline, the trend, the KPI table, alerts, skipped KPIs."""
    if output != OutputFormat.table:
        data: Any = card.as_dict(explain=explain)
        if output == OutputFormat.csv:  # one row per KPI, the card's fields repeated
            card_fields = {k: data[k] for k in ("customer", "model", "score", "status", "at")}
            data = [{**card_fields, **kpi} for kpi in data["kpis"]] or [card_fields]
        renderer.structured(data, output)
        return
    from rich.text import Text

    out = renderer.out
    head = Text()
    head.append(card.customer, style="bold")
    head.append("  score ")
    head.append(score_text(card.score), style="bold")
    head.append("  ")
    head.append(card.status, style=f"bold {STATUS_STYLE.get(card.status, '')}")
    at = f", at {_iso_text(card.at)}" if card.at else ""
    head.append(f"  ({card.model} model{at})", style="dim")
    out.print(head)
    if card.previous is not None:
        prev = card.previous
        change = card.change or 0.0
        trend = Text("previous ")
        trend.append(score_text(prev.score))
        trend.append(f" ({prev.status}) saved {_iso_text(prev.computed_at)}; change ")
        arrow, style = ("▲", "green") if change > 0 else ("▼", "red") if change < 0 else ("=", "")
        trend.append(f"{change:+.2f} {arrow}", style=style)
        out.print(trend)
    else:
        out.print(Text("no previous saved score (kpictl score --all --save saves one)", "dim"))

    regression = card.model == "regression"
    # one origin for every value (the usual case): say it once instead of in a column
    origins = {_value_origin(kpi) for kpi in card.kpis}
    per_row = len(origins) > 1
    if len(origins) == 1:
        origin = origins.pop()
        out.print(
            Text(
                f"values observed at {origin}" if origin[0].isdigit() else f"values from {origin}",
                "dim",
            )
        )
    columns = ["kpi", "value", *(["observed (UTC)"] if per_row else []), "band", "status"]
    columns += ["term"] if regression else ["weight", "points"]
    table = renderer.table(*columns, "source")
    table.show_edge, table.collapse_padding = False, True  # eight columns: keep it narrow
    for kpi in card.kpis:
        cells: list[Any] = [kpi.kpi_name, fmt_num(kpi.value)]
        if per_row:
            cells.append(_value_origin(kpi, short=True))
        cells += [band_text(kpi.band), Text(kpi.status, style=STATUS_STYLE.get(kpi.status, ""))]
        cells += [fmt_num(kpi.term)] if regression else [fmt_num(kpi.weight), fmt_num(kpi.points)]
        table.add_row(*cells, kpi.source or "")
    out.print(table)
    if explain:
        for line in _explain_lines(card):
            out.print(line)
    if card.alerts:
        out.print(Text("Alerts", "bold"))
        for alert in card.alerts:
            line = Text("  ")
            line.append(f"{alert.status:<8}", style=STATUS_STYLE.get(alert.status, ""))
            line.append(f" {alert.kpi_name} = {fmt_num(alert.value)}")
            line.append(f"  playbook: {alert.playbook or '(none)'}", style="cyan")
            out.print(line)
    else:
        out.print(Text("No alerts.", "green"))
    if card.skipped:
        out.print(Text("Skipped", "bold"))
        for skipped in card.skipped:
            out.print(Text(f"  {skipped.kpi_name}: {skipped.reason}", "dim"))


def _iso_text(value: datetime) -> str:
    """A time for a table: ISO 8601 UTC, to the second (JSON keeps the full precision)."""
    from kpictl.scoring import iso

    return iso(value.replace(microsecond=0))


def _operand(value: Any) -> str:
    text = fmt_num(value)
    return f"({text})" if text.startswith("-") else text


def _value_origin(kpi: KpiScore, *, short: bool = False) -> str:
    """Where a value comes from: its observation's time, --set or --values."""
    if kpi.value_source == "observation" and kpi.observed_at is not None:
        if short:  # a table cell: UTC to the minute (JSON has the exact time)
            from kpictl.observations import as_utc

            return f"{as_utc(kpi.observed_at):%Y-%m-%d %H:%M}"
        return _iso_text(kpi.observed_at)
    return {"set": "--set", "values": "--values"}.get(kpi.value_source, kpi.value_source)


def _explain_lines(card: ScoreCard) -> list[Any]:
    """The arithmetic of a score, as lines of text."""
    from rich.text import Text

    lines = [Text("How the score was computed", "bold")]
    if card.model == "ranges":
        counted = [k for k in card.kpis if k.points is not None]
        points = card.points or {}
        lines.append(
            Text("  points: " + ", ".join(f"{name} {fmt_num(points[name])}" for name in points))
        )
        numerator = " + ".join(f"{fmt_num(k.weight)}×{fmt_num(k.points)}" for k in counted)
        denominator = " + ".join(fmt_num(k.weight) for k in counted)
        lines.append(Text("  score = Σ weight·points / Σ weight"))
        lines.append(Text(f"        = ({numerator}) / ({denominator})"))
        lines.append(
            Text(
                f"        = {fmt_num(card.weighted_sum)} / {fmt_num(card.total_weight)}"
                f" = {fmt_num(card.score)}"
            )
        )
    else:
        terms = [k for k in card.kpis if k.coefficient is not None]
        low, high = card.clamp or (0.0, 100.0)
        formula = " + ".join(
            [fmt_num(card.intercept)]
            + [f"{_operand(k.coefficient)} × {_operand(k.value)}" for k in terms]
        )
        sums = " + ".join([fmt_num(card.intercept)] + [_operand(k.term) for k in terms])
        lines.append(Text("  score = intercept + Σ coefficient × value, clamped"))
        lines.append(Text(f"        = {formula}"))
        lines.append(Text(f"        = {sums} = {fmt_num(card.raw_score)}"))
        clamped = (
            "unchanged" if card.raw_score == card.score else f"clamped to {fmt_num(card.score)}"
        )
        lines.append(Text(f"  clamp [{fmt_num(low)}, {fmt_num(high)}]: {clamped}"))
    if card.health_range is not None:
        found = card.health_range.band(card.status) if card.status != "unknown" else None
        where = band_text(found) if found else "no band (a gap)"
        lines.append(
            Text(
                f"  status: {card.status}, the health_score band {where} "
                f"({card.health_range_source} range)"
            )
        )
    else:
        lines.append(
            Text(f"  status: {card.status} (no health_score range: healthy ≥ 70, risk ≥ 40)")
        )
    return lines


def render_score_summaries(
    renderer: Renderer,
    summaries: Scoreboard | Sequence[ScoreSummary],
    output: OutputFormat,
    *,
    title: str,
) -> None:
    """``score --all``: one line per customer, worst first.

    Streamed: JSON record by record, the table in two passes (the column widths, then
    the lines), so nothing is held per customer beyond what ``summaries`` holds.
    """
    if output == OutputFormat.json:
        write_json_records(s.as_dict() for s in summaries)
        return
    if output != OutputFormat.table:
        renderer.structured([s.as_dict() for s in summaries], output)
        return
    # Plain fixed-width lines, not a Rich table: Rich took 75 s (and 250 MB) to lay out
    # 100,000 customers; this is linear and streams.
    header = ("customer", "score", "status", "model", "alerts", "reason")
    widths = [len(h) for h in header]
    empty = True
    for row in _summary_rows(summaries):
        empty = False
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    if empty:
        renderer.info("no customers")
        return

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    def lines() -> Iterator[tuple[str | None, str]]:
        yield "bold", title
        yield "bold", line(header)
        yield None, "  ".join("-" * w for w in widths)
        for row in _summary_rows(summaries):
            yield STATUS_STYLE.get(row[2]), line(row)

    renderer.lines(lines())


def _summary_rows(summaries: Iterable[ScoreSummary]) -> Iterator[tuple[str, ...]]:
    last, text = None, ""  # worst first: customers with one score come together
    for s in summaries:
        if s.score is None:
            score, alerts = "", ""
        else:
            if s.score != last:
                last, text = s.score, score_text(s.score)
            score, alerts = text, str(s.alerts)
        yield (s.customer, score, s.status or "", s.model or "", alerts, s.reason or "")
