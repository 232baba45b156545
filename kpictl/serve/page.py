"""The score card page of ``GET /``: one self-contained HTML document.

No CDN, no external file, no script: inline CSS only, so it works offline and under a
``default-src 'none'`` content security policy. Every piece of data is HTML-escaped
here, in one place (``_e``). Status is shown by colour (green healthy, yellow risk,
red critical, as ``kpictl score`` colours it) and in words, for readers without colour.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from kpictl.rangefiles.model import Band, KpiRange
from kpictl.scoring import KpiScore, ScoreCard
from kpictl.scoring.bands import BAND_STATUSES, Status
from kpictl.serve.reads import Card
from kpictl.times import iso

STATUS_WORDS = {
    "healthy": "Healthy",
    "risk": "Risk",
    "critical": "Critical",
    "unknown": "Unknown (between bands)",
    "insufficient_data": "Insufficient data",
    "none": "No value",
}

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

_CSS = (Path(__file__).parent / "card.css").read_text(encoding="utf-8")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def number(value: float | None) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def render_card(card: Card) -> str:
    """The whole page."""
    caller = card.caller
    score = card.score
    title = f"Health score: {caller.name}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        _header(card, score),
        "<section><h2>KPIs</h2>",
        _kpi_list(card, score),
        "</section>",
    ]
    if score is not None:
        parts.append(_alerts(score))
        if score.skipped:
            parts.append("<section><h2>Not scored</h2><ul>")
            parts += [
                f'<li class="note"><code>{_e(s.kpi_name)}</code>: {_e(s.reason)}</li>'
                for s in score.skipped
            ]
            parts.append("</ul></section>")
    parts.append("</main></body></html>")
    return "".join(parts)


def _status_chip(status: str, *, tag: str = "span") -> str:
    word = STATUS_WORDS.get(status, status)
    return f'<{tag} class="chip s-{_e(status)}" data-status="{_e(status)}">{_e(word)}</{tag}>'


def _header(card: Card, score: ScoreCard | None) -> str:
    caller = card.caller
    out = [f"<header><h1>{_e(caller.name)}</h1>", f'<p class="slug">{_e(caller.slug)}</p>']
    if score is None:
        out.append(f'<p class="note" id="no-score">No score now: {_e(card.reason or "")}</p>')
    else:
        out.append('<div class="headline">')
        out.append(f'<span class="score" id="score">{_e(number(round(score.score, 2)))}</span>')
        out.append(_status_chip(score.status))
        out.append("</div>")
        meta = [f"{score.model} model"]
        if score.at is not None:
            meta.append(f"at {iso(score.at)}")
        coverage = getattr(score, "coverage", None)
        if isinstance(coverage, (int, float)):
            meta.append(f"coverage {coverage:.0%}")
        meta.append(f"{len(score.alerts)} alert{'s' if len(score.alerts) != 1 else ''}")
        out.append(f'<p class="meta" id="meta">{_e(" · ".join(meta))}</p>')
    out.append("</header>")
    return "".join(out)


def _kpi_list(card: Card, score: ScoreCard | None) -> str:
    scored = {k.kpi_name: k for k in score.kpis} if score is not None else {}
    names = [r.kpi_name for r in card.ranges]
    names += sorted(set(scored) - set(names))
    ranges = {r.kpi_name: r for r in card.ranges}
    if not names:
        return '<p class="note">No reference ranges.</p>'
    items = []
    for name in names:
        row = ranges.get(name)
        kpi = scored.get(name)
        if kpi is None and name == "health_score" and score is not None:
            # the customer's score itself, on its own health_score range
            by_score = score.status_by_score or cast("Status", score.status)
            kpi = KpiScore(name, score.score, by_score, None, None, None, None)
        items.append(_kpi_item(name, row.range if row else None, row.source if row else None, kpi))
    return f'<ul class="kpis">{"".join(items)}</ul>'


def _kpi_item(
    name: str, kpi_range: KpiRange | None, source: str | None, kpi: KpiScore | None
) -> str:
    status = kpi.status if kpi is not None else "none"
    value = kpi.value if kpi is not None else None
    out = [
        f'<li class="kpi k-{_e(status)}" id="kpi-{_e(name)}" data-kpi="{_e(name)}" '
        f'data-status="{_e(status)}">',
        '<div class="kpi-head">',
        f'<span class="kpi-name">{_e(name)}</span>',
        _status_chip(status),
        f'<span class="kpi-value">{_e(number(value))}</span>',
        "</div>",
    ]
    if kpi_range is not None:
        out.append(_bar(kpi_range, value, status))
        legend = [
            f'<span class="l-{band}">{band} {_e(_interval(kpi_range.band(band)))}</span>'
            for band in BAND_STATUSES
            if kpi_range.band(band) is not None
        ]
        extra = [f"weight {number(kpi_range.weight)}", f"source {source}"]
        if kpi_range.playbook:
            extra.append(f"playbook {kpi_range.playbook}")
        legend.append(f"<span>{_e(' · '.join(extra))}</span>")
        out.append(f'<p class="legend">{"".join(legend)}</p>')
    else:
        out.append('<p class="note">No reference range.</p>')
    out.append("</li>")
    return "".join(out)


def _interval(band: Band | None) -> str:
    if band is None:
        return ""
    lo = "−∞" if band.min is None else number(band.min)
    hi = "∞" if band.max is None else number(band.max)
    return f"[{lo}, {hi})"


def scale(kpi_range: KpiRange, value: float | None) -> tuple[float, float]:
    """The span the bar shows: every finite bound and the value, and a margin for
    open ends."""
    points = [b for band in _bands(kpi_range) for b in (band[1].min, band[1].max) if b is not None]
    if value is not None and math.isfinite(value):
        points.append(value)
    if not points:
        return (0.0, 1.0)
    lo, hi = min(points), max(points)
    span = hi - lo or abs(hi) or 1.0
    open_low = any(band.min is None for _, band in _bands(kpi_range))
    open_high = any(band.max is None for _, band in _bands(kpi_range))
    return (
        lo - span * 0.15 if open_low or lo == hi else lo,
        hi + span * 0.15 if open_high or lo == hi else hi,
    )


def _bands(kpi_range: KpiRange) -> Iterable[tuple[str, Band]]:
    for name in BAND_STATUSES:
        band = kpi_range.band(name)
        if band is not None:
            yield name, band


def _bar(kpi_range: KpiRange, value: float | None, status: str) -> str:
    lo, hi = scale(kpi_range, value)
    width = hi - lo

    def pct(x: float) -> float:
        return max(0.0, min(100.0, (x - lo) / width * 100.0))

    spans = []
    for name, band in _bands(kpi_range):
        left = pct(band.min if band.min is not None else lo)
        right = pct(band.max if band.max is not None else hi)
        style = f"left:{left:.2f}%;width:{max(0.0, right - left):.2f}%"
        spans.append(f'<span class="band b-{name}" style="{style}"></span>')
    label = f"value {number(value)}, {STATUS_WORDS.get(status, status)}"
    if value is not None and math.isfinite(value):
        spans.append(f'<span class="marker" style="left:{pct(value):.2f}%"></span>')
    return f'<div class="bar" role="img" aria-label="{_e(label)}">{"".join(spans)}</div>'


def _alerts(score: ScoreCard) -> str:
    if not score.alerts:
        return '<section><h2>Alerts</h2><p class="note" id="no-alerts">No alerts.</p></section>'
    out = ['<section><h2>Alerts</h2><ul id="alerts">']
    for alert in score.alerts:
        playbook = (
            f"run playbook <code>{_e(alert.playbook)}</code>" if alert.playbook else "no playbook"
        )
        out.append(
            f'<li class="alert" data-kpi="{_e(alert.kpi_name)}">{_status_chip(alert.status)} '
            f"<code>{_e(alert.kpi_name)}</code> at {_e(number(alert.value))}: {playbook}</li>"
        )
    out.append("</ul></section>")
    return "".join(out)
