"""kpictl score: one customer's health score card, or every customer's score."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from kpictl.cli.completion import complete_customer, complete_kpi_assignment
from kpictl.cli.context import DEFAULT_LOCK, LockTimeout, Output, app_context, refuse_together
from kpictl.errors import EXIT_PROBLEM, UsageError
from kpictl.render import OutputFormat, fmt_num, score_text


def score(
    ctx: typer.Context,
    slug: Annotated[
        str | None,
        typer.Argument(
            metavar="SLUG",
            help="The customer to score (or --all).",
            show_default=False,
            autocompletion=complete_customer,
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Score every customer.")] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="TIME",
            help="Score as of this time (ISO 8601; UTC without a zone) [default: now].",
            show_default=False,
        ),
    ] = None,
    values: Annotated[
        str | None,
        typer.Option(
            "--values",
            metavar="FILE",
            help="Values from a YAML/JSON mapping of KPI to number, or a CSV ('-': stdin); "
            "they override the observations.",
            show_default=False,
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KPI=VALUE",
            autocompletion=complete_kpi_assignment,
            help="KPI=VALUE; overrides observations and --values (repeat for several).",
            show_default=False,
        ),
    ] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show the arithmetic.")] = False,
    save: Annotated[
        bool, typer.Option("--save", help="With --all: save the scores to health_scores.")
    ] = False,
    fail_under: Annotated[
        float | None,
        typer.Option(
            "--fail-under",
            help="With --all: exit 1 when any customer scores under N.",
            metavar="N",
            show_default=False,
        ),
    ] = None,
    allow_insufficient: Annotated[
        bool,
        typer.Option(
            "--allow-insufficient",
            help="With --fail-under: let customers with insufficient_data pass.",
        ),
    ] = False,
    lock_timeout: LockTimeout = DEFAULT_LOCK,
    output: Output = OutputFormat.table,
) -> None:
    """Compute a customer's health score: KPI statuses, alerts with playbooks, the trend.

    With --all, every customer's score, worst first (exit 1 with --fail-under N when
    any score is under N, or any status is insufficient_data: too little of the
    model's weight had a value, unless --allow-insufficient).

    Example:

    \b
        kpictl score data-center --explain
        kpictl score acme --set error_rate_pct=2.5 -o json
        kpictl score --all --save --fail-under 40
    """
    from kpictl import api
    from kpictl.render import progress, render_score_card, render_score_summaries
    from kpictl.scoring import iso
    from kpictl.scoring import values as inputs_given

    app = app_context(ctx)
    renderer = app.renderer
    one = "name one customer, or use --all"
    refuse_together(("SLUG", slug), ("--all", all_), why=one)
    if not all_ and slug is None:
        raise UsageError(one, hint="kpictl score data-center")
    single: list[tuple[str, object]] = [
        ("--values", values),
        ("--set", set_),
        ("--explain", explain),
    ]
    for option, value in single:
        refuse_together(("--all", all_), (option, value), why=f"{option} scores one customer")
    board: list[tuple[str, object]] = [
        ("--save", save),
        ("--fail-under", fail_under),
        ("--allow-insufficient", allow_insufficient),
    ]
    for option, value in board:
        refuse_together(
            ("SLUG", slug),
            (option, value),
            why="--save, --fail-under and --allow-insufficient go with --all",
        )
    when = inputs_given.parse_at(at)
    if all_:
        if fail_under is not None and not math.isfinite(fail_under):
            raise UsageError(f"--fail-under must be a finite number, got {fail_under}")
        if allow_insufficient and fail_under is None:
            raise UsageError("--allow-insufficient goes with --fail-under")
        with progress(renderer, "scoring customers", unit="customers") as on_progress:
            result = api.score_all(
                app.settings, at=when, save=save, lock_timeout=lock_timeout, on_progress=on_progress
            )
        title = f"health scores at {iso(result.at.replace(microsecond=0))}, worst first"
        render_score_summaries(renderer, result.summaries, output, title=title)
        unscored = result.summaries.unscored()
        if unscored:
            renderer.warning(
                f"{len(unscored)} customer(s) could not be scored: "
                + ", ".join(s.customer for s in unscored)
            )
        if save:
            renderer.info(f"saved {result.saved} score(s) to health_scores")
        if fail_under is not None:
            under = result.under(fail_under)
            short = [] if allow_insufficient else result.summaries.insufficient()
            if under:
                renderer.error(
                    f"{len(under)} customer(s) score under {fmt_num(fail_under)}: "
                    + ", ".join(f"{s.customer} ({score_text(s.score or 0.0)})" for s in under)
                )
            if short:
                renderer.error(
                    f"{len(short)} customer(s) have insufficient data (coverage under the "
                    "model's min_coverage): "
                    + ", ".join(f"{s.customer} (coverage {fmt_num(s.coverage)})" for s in short),
                    hint="import their observations, or pass --allow-insufficient",
                )
            if under or short:
                raise typer.Exit(EXIT_PROBLEM)
        return

    assert slug is not None
    given = None
    if values is not None:
        source = sys.stdin.buffer if values == "-" else Path(values)
        given = inputs_given.load_values(source, customer=slug, at=when)
    card = api.score(
        app.settings, slug, at=when, values=given, sets=inputs_given.parse_sets(set_ or [])
    )
    render_score_card(renderer, card, output, explain=explain)
