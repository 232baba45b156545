"""The results: one measured step, its ratio and verdict; the markdown table, the peak-RSS
summary and the notes that explain how to read them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

RSS_TARGET_MB = 200.0
RSS_FLAT = 1.25  # "flat": peak RSS grows by at most this factor when N grows tenfold


@dataclass
class Result:
    step: str
    size: str
    median: float
    baseline: float
    rss_mb: float
    target: str  # e.g. "<= 1.5x" (kpictl/baseline) or ">= 25x faster" (baseline/kpictl)
    note: str = ""
    runs: int = 0
    timed_out: bool = False  # kpictl was killed after ``median`` seconds: a lower bound
    judged: bool = True  # False: a tenth (or tenfold) of the target size, for the RSS check

    @property
    def faster(self) -> bool:
        return self.target.endswith("faster")

    @property
    def ratio(self) -> float:
        """kpictl/baseline; for a "faster" target, baseline/kpictl (how many times faster)."""
        if self.faster:
            return self.baseline / self.median if self.median else float("nan")
        return self.median / self.baseline if self.baseline else float("nan")

    @property
    def met(self) -> bool:
        if self.timed_out:
            return False
        bound = float(self.target.split()[1].rstrip("x"))
        return self.ratio >= bound if self.faster else self.ratio <= bound

    @property
    def verdict(self) -> str:
        """yes / NO against the target; "-" at a size the target is not stated for."""
        if not self.judged:
            return "-"
        return "yes" if self.met else "NO"


def at_target_size(results: list[Result], size: int) -> list[Result]:
    """The results, those of another size than ``size`` marked not judged (they are
    there for the peak-RSS check; start-up costs dominate small sizes)."""
    return [replace(r, judged=r.size.startswith(f"{size:,} ")) for r in results]


# -- report --------------------------------------------------------------------------


def _seconds(r: Result, value: float, *, lower_bound: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{'>' if lower_bound else ''}{value:.3f}s"


def report(results: Sequence[Result]) -> str:
    """The results as a markdown table."""
    head = (
        f"| {'step':<38} | {'size':<34} | {'kpictl':>9} | {'baseline':>9} | {'ratio':>13} "
        f"| {'target':>13} | met | {'peak RSS':>8} | runs | notes |"
    )
    rule = "|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|"
    lines = [head, rule]
    for r in results:
        if math.isnan(r.ratio):
            ratio = "-"
        elif r.faster:  # a timed-out kpictl is at most this much faster
            ratio = f"{'<' if r.timed_out else ''}{r.ratio:.1f}x faster"
        else:
            ratio = f"{'>' if r.timed_out else ''}{r.ratio:.2f}x"
        if math.isnan(r.rss_mb):
            rss = "-"
        else:
            over = r.rss_mb > RSS_TARGET_MB
            rss = f"{'>' if r.timed_out and over else ''}{r.rss_mb:.0f} MB{'!' if over else ''}"
        lines.append(
            f"| {r.step:<38} | {r.size:<34} | {_seconds(r, r.median, lower_bound=r.timed_out):>9} "
            f"| {_seconds(r, r.baseline):>9} | {ratio:>13} | {r.target:>13} "
            f"| {r.verdict:<3} | {rss:>8} | {r.runs:>4} | {r.note} |"
        )
    return "\n".join(lines)


def rss_summary(results: Sequence[Result]) -> str:
    """Peak RSS per step: the target, and whether it stays flat when N grows tenfold."""
    lines = [
        f"peak RSS of kpictl (target <= {RSS_TARGET_MB:.0f} MB, and flat: at most "
        f"x{RSS_FLAT} when N grows tenfold):"
    ]
    by_step: dict[str, list[Result]] = {}
    for r in results:
        if r.size != "-" and not math.isnan(r.rss_mb):
            by_step.setdefault(r.step, []).append(r)
    for step, rs in by_step.items():
        figures = " -> ".join(f"{r.rss_mb:.0f} MB ({r.size.split(', ')[0]})" for r in rs)
        verdict = "ok" if all(r.rss_mb <= RSS_TARGET_MB for r in rs) else "OVER TARGET"
        if len(rs) > 1:
            growth = rs[-1].rss_mb / rs[0].rss_mb
            verdict += f"; x{growth:.2f}: " + ("flat" if growth <= RSS_FLAT else "GROWS")
        if any(r.timed_out for r in rs):
            verdict += " (a run was killed: its peak is a lower bound)"
        lines.append(f"- {step}: {figures}: {verdict}")
    return "\n".join(lines)


NOTES = """\
How to read it: ratio = kpictl / baseline (for the loop: how many times faster kpictl is).
The KPIs are those of ranges/kpis.yaml.
- verify-isolation: customers and a range row per KPI each generated with INSERT ... SELECT
  generate_series after `kpictl init` (kpictl's schema, constraints and RLS); no observations.
  Set-based baseline: duplicate pairs, duplicate defaults, orphans (three tables), every
  customer's effective view (one row per KPI, no foreign row), in one psycopg2 process; it does
  not probe row-level security, which kpictl also does. Loop baseline: per customer, its own
  ranges and the defaults it does not override (two queries), checked in Python.
- score --all: every KPI, one observation each per customer at a time before --at; customers
  override a third of the KPIs, the defaults fill the rest; no scoring section anywhere, so
  every customer has the ranges model. Baseline: one SQL statement (latest value at --at,
  effective range, band -> points, weighted mean, status from the health_score range), rows
  fetched and written out by psycopg2.
- observations import: into an empty kpi_observations (TRUNCATE + VACUUM ANALYZE before each
  run); CSV of every KPI x ten times per customer, with a zone. Baseline: COPY of the file into a
  temporary staging table and one INSERT ... SELECT joining customers on the slug.
- A kpictl run slower than --timeout-factor times what its target allows (at least
  --min-timeout s) is killed: its time is a lower bound and the larger size is not run."""

QUICK_NOTE = """\
--quick: the targets are stated for the full sizes. At these sizes kpictl's fixed start-up
(Python, SQLAlchemy, connecting, checking the schema version: about half a second) weighs
on every ratio; read the quick table for regressions and for the RSS growth, not as a verdict."""
