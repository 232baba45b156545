"""Plans: the one printer of what a seed would do, for ``seed`` and for ``diff``.

Both commands print a scope the same way: a header naming the file and both versions,
then one line per row change (``+`` add, ``~`` change, ``-`` remove). ``diff`` adds the
lines only it knows (drift, scoring, orphan scopes); ``seed`` adds kept rows.
Lines are (style, text) pairs written with plain ANSI codes: a plan can have 100,000.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kpictl.numbers import fmt_num, json_value, number_text
from kpictl.render.console import OutputFormat, Renderer, write_lines
from kpictl.render.csvout import change_row, write_csv
from kpictl.render.formats import json_text

if TYPE_CHECKING:
    from kpictl.drift import DriftReport, ScopeDrift, ScopeWithoutFile
    from kpictl.rangefiles.model import RangeFile
    from kpictl.seeding.plan import Plan, PlanTotals, RowChange, ScopePlan

Line = tuple[str | None, str]

CHANGE_FIELDS = ("scope", "kpi_name", "action", "fields")  # the JSON shape's keys


def plan_changes(plan: Plan) -> list[dict[str, Any]]:
    """The SPEC's diff JSON shape: one entry per added, changed or removed row."""
    return [
        {
            "scope": c.scope,
            "kpi_name": c.kpi_name,
            "action": c.action,
            "fields": {k: {"old": old, "new": new} for k, (old, new) in c.fields.items()},
        }
        for c in plan.changes()
    ]


# -- the lines both commands share ------------------------------------------------------


def scope_header(file: RangeFile, database_version: int | None, customer_exists: bool) -> Line:
    """``customer acme  (ranges/customers/acme.yaml: file v2, database v1)``."""
    label = "defaults" if file.customer is None else f"customer {file.customer}"
    if database_version is not None:
        db_side = f"database v{database_version}"
    elif customer_exists:
        db_side = "database: no revision"
    else:
        db_side = "not in the database"
    return "bold", f"{label}  ({file.path}: file v{file.version}, {db_side})"


def _customer_lines(plan: ScopePlan) -> Iterator[Line]:
    file = plan.file
    if not plan.customer_exists:
        yield "green", f"  + create customer {file.customer} ({file.display_name})"
    if plan.name_change:
        old, new = plan.name_change
        yield "yellow", f"  ~ customer name: {old!r} -> {new!r}"


def change_line(change: RowChange) -> Line:
    if change.action == "add":
        fields = " ".join([f"{k}={number_text(new)}" for k, (_old, new) in change.fields.items()])
        return "green", f"  + {change.kpi_name}: {fields}"
    if change.action == "remove":
        return "red", f"  - {change.kpi_name}"
    fields = ", ".join(
        f"{k}: {fmt_num(old) or 'none'} -> {fmt_num(new) or 'none'}"
        for k, (old, new) in change.fields.items()
    )
    return "yellow", f"  ~ {change.kpi_name}: {fields}"


# -- seed ----------------------------------------------------------------------------------


def scope_shown(scope: ScopePlan) -> bool:
    """Whether a scope's plan has anything to show (else it counts as unchanged)."""
    return bool(
        scope.changes
        or scope.kept
        or scope.refusal
        or scope.name_change
        or not scope.customer_exists
        or scope.needs_revision
    )


def seed_scope_lines(scope: ScopePlan) -> Iterator[Line]:
    rec = scope.recorded
    yield scope_header(scope.file, rec.version if rec else None, scope.customer_exists)
    yield from _customer_lines(scope)
    if scope.refusal:
        note = " (forced)" if scope.forced else ""
        yield ("yellow" if scope.forced else "red"), f"  ! refused: {scope.refusal}{note}"
    for change in scope.changes:
        yield change_line(change)
    for kept in scope.kept:
        yield (
            "dim",
            f"  = {kept.kpi_name}: kept (in the database, not in the file; --prune removes it)",
        )
    if not scope.changes and scope.customer_exists and not scope.name_change:
        yield "dim", "  no row changes (a new revision is recorded)"


def plan_summary(unchanged: int, adds: int, changes: int, removes: int) -> Iterator[Line]:
    if unchanged:
        noun = "scope" if unchanged == 1 else "scopes"
        yield "dim", f"{unchanged} {noun} unchanged"
    yield "bold", f"Plan: {adds} to add, {changes} to change, {removes} to remove."


class PlanPrinter:
    """Shows a plan that arrives a chunk at a time (``seed``). The lines wait in a
    temporary file (a plan can have 100,000 of them) until the whole plan is known and
    valid, then go to stdout with the summary: a seed that fails on a bad file shows
    no plan, as when the plan came whole."""

    def __init__(self, renderer: Renderer) -> None:
        import tempfile

        self.renderer = renderer
        self.colour = renderer.colour_out
        self.width = renderer.width
        self.hidden = 0  # scopes planned with nothing to show: they count as unchanged
        # open across add() calls; finish() closes it, and a failed seed drops it
        self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=1 << 20, mode="w+", encoding="utf-8"
        )

    def add(self, plan: Plan) -> None:
        """The plan of some scopes, in the order they are to be shown."""
        for scope in plan.scopes:
            if not scope_shown(scope):
                self.hidden += 1
                continue
            write_lines(
                self._spool.write, seed_scope_lines(scope), colour=self.colour, width=self.width
            )

    def finish(self, totals: PlanTotals) -> None:
        """Print the plan: every scope's lines, then the summary of ``totals``."""
        import shutil

        self._spool.seek(0)
        shutil.copyfileobj(self._spool, sys.stdout)
        self._spool.close()
        unchanged = totals.unchanged + self.hidden
        self.renderer.lines(plan_summary(unchanged, totals.adds, totals.changes, totals.removes))


class PlanDocument:
    """The JSON document of a plan that arrives a chunk at a time (``seed -o json``),
    written as ``Renderer.structured`` would write it whole: the changes wait in a
    temporary file rather than in a list of 100,000 dicts."""

    def __init__(self) -> None:
        import tempfile

        self.count = 0
        # open across add() calls; finish() closes it, and a failed seed drops it
        self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=1 << 20, mode="w+", encoding="utf-8"
        )

    def add(self, plan: Plan) -> None:
        import textwrap

        for change in plan_changes(plan):
            text = json_text(change, indent=2)
            self._spool.write((",\n" if self.count else "") + textwrap.indent(text, "    "))
            self.count += 1

    def finish(self, **extra: Any) -> None:
        """Print the document: the changes, then ``extra`` (applied, dry_run)."""
        import shutil

        write = sys.stdout.write
        write('{\n  "changes": [')
        if self.count:
            write("\n")
            self._spool.seek(0)
            shutil.copyfileobj(self._spool, sys.stdout)
            write("\n  ]")
        else:
            write("]")
        self._spool.close()
        for key, value in extra.items():
            write(f",\n  {json.dumps(key)}: {json_text(value)}")
        write("\n}\n")
        sys.stdout.flush()


def render_seed_changes(
    renderer: Renderer, changes: list[dict[str, Any]], output: OutputFormat, **extra: Any
) -> None:
    """``seed -o yaml|csv``: the plan's changes (and ``extra``: applied, dry_run); CSV
    has one row per change (``applied`` and ``dry_run`` are on stderr's last line)."""
    if output.is_csv:
        write_csv("seed", map(change_row, changes), output)
    else:
        renderer.structured({"changes": changes, **extra}, output)


# -- diff ----------------------------------------------------------------------------------


def render_drift(renderer: Renderer, report: DriftReport, output: OutputFormat) -> None:
    """``diff``: the differing scopes as a plan (database -> file), then a summary line.

    JSON and YAML give the whole report; CSV gives its changes, one row each.
    """
    if output.is_csv:
        write_csv("diff", map(change_row, plan_changes(report.plan)), output)
        return
    if output != OutputFormat.table:
        renderer.structured({"changes": plan_changes(report.plan), **report.as_dict()}, output)
        return
    renderer.lines(_drift_lines(report))


def _drift_lines(report: DriftReport) -> Iterator[Line]:
    for scope in report.scopes:
        if scope.differs:
            yield from drift_scope_lines(scope)
    if report.defaults_without_file:
        orphan = report.defaults_without_file
        yield "bold", "system defaults in the database without a defaults.yaml"
        yield "magenta", f"  ? {_orphan_text(orphan)}"
    if report.customers_without_file:
        yield "bold", "customers in the database without a file"
        for orphan in report.customers_without_file:
            yield "magenta", f"  ? {orphan.scope} ({orphan.name}): {_orphan_text(orphan)}"
    total = len(report.scopes)
    if not report.differs:
        noun = "scope" if total == 1 else "scopes"
        yield "bold", f"No differences: the database matches the files ({total} {noun})."
        return
    plan = report.plan
    differing = sum(1 for s in report.scopes if s.differs)
    parts = [
        f"{plan.count('add')} to add",
        f"{plan.count('change')} to change",
        f"{plan.count('remove')} to remove",
    ]
    if report.drift:
        parts.append(_count(len(report.drift), "drifted row"))
    if report.customers_without_file:
        parts.append(_count(len(report.customers_without_file), "customer without a file"))
    if report.defaults_without_file:
        parts.append("defaults without a file")
    scopes = f"{differing} of {total} scope{'s' if total != 1 else ''}"
    verb = "differs" if differing == 1 else "differ"
    yield "bold", f"Diff: {scopes} {verb}; " + ", ".join(parts) + "."


def drift_scope_lines(scope: ScopeDrift) -> Iterator[Line]:
    plan, file = scope.plan, scope.file
    yield scope_header(file, scope.database_version, plan.customer_exists)
    yield from _customer_lines(plan)
    if scope.database_version is not None and scope.version_differs:
        yield "yellow", f"  ~ version: {scope.database_version} -> {file.version}"
    elif plan.customer_exists and scope.database_version is None:
        yield "green", f"  + no revision recorded: seed records v{file.version}"
    if scope.scoring_change:
        old, new = scope.scoring_change
        yield "yellow", f"  ~ scoring: {_compact(old)} -> {_compact(new)}"
    if plan.refusal:
        yield "red", f"  ! seed would refuse: {plan.refusal}"
    since = f"v{scope.database_version}"
    for drift in scope.drift:
        if drift.kind == "changed":
            fields = ", ".join(
                f"{k}: {fmt_num(a) or 'none'} -> {fmt_num(b) or 'none'}"
                for k, (a, b) in drift.fields.items()
            )
            text = f"changed in the database since {since} was applied: {fields}"
        elif drift.kind == "deleted":
            text = f"deleted from the database since {since} was applied"
        else:
            text = f"not in revision {since} (inserted by hand, or kept by a seed without --prune)"
        yield "magenta", f"  ! drift: {drift.kpi_name} {text}"
    for change in plan.changes:
        if change.action == "remove":
            yield "red", f"  - {change.kpi_name} (in the database, not in the file)"
        else:
            yield change_line(change)
    if (
        not plan.changes
        and not scope.drift
        and plan.customer_exists
        and not plan.name_change
        and not scope.scoring_change
        and not scope.version_differs
    ):
        yield "yellow", "  ~ content differs from the recorded revision"


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    plural = noun.replace("customer ", "customers ") if noun.startswith("customer ") else noun + "s"
    return f"{n} {plural}"


def _orphan_text(orphan: ScopeWithoutFile) -> str:
    version = (
        f"database v{orphan.database_version}"
        if orphan.database_version is not None
        else "no revision"
    )
    return f"{_count(orphan.ranges, 'range')}, {version}"


def _compact(value: Any) -> str:
    return "none" if value is None else json.dumps(json_value(value), separators=(", ", ": "))
