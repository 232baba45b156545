"""All output of kpictl: Rich tables and colours, JSON, YAML and CSV.

Data goes to stdout, messages to stderr. Rich is imported only when a table or a
coloured message is drawn, so fast commands stay fast.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from kpictl.drift import Comparison, DriftReport, Revision
    from kpictl.observations import Observation
    from kpictl.plan import Plan, PlanTotals
    from kpictl.rangefiles.model import Band, Problem
    from kpictl.scoring import Scoreboard, ScoreCard
    from kpictl.scoring import Summary as ScoreSummary

STATUS_STYLE = {"healthy": "green", "risk": "yellow", "critical": "red", "unknown": "dim"}


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"


def fmt_num(value: Any) -> str:
    """A number as a person writes it: 956 rather than 956.0, 52.14 rather than 52.140000."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def json_value(value: Any) -> Any:
    """Numbers that are whole print as integers in JSON/YAML too (956, not 956.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


def band_text(band: Band | None) -> str:
    if band is None:
        return ""
    if band.min is None and band.max is None:
        return "any"
    if band.min is None:
        return f"< {fmt_num(band.max)}"
    if band.max is None:
        return f"≥ {fmt_num(band.min)}"
    return f"{fmt_num(band.min)} – {fmt_num(band.max)}"


class Renderer:
    """Owns the consoles, styles and formats of one kpictl run."""

    def __init__(self, *, no_color: bool = False) -> None:
        self.no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self._out: Console | None = None
        self._err: Console | None = None

    # consoles are created on first use: importing Rich costs start-up time
    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = self._console(stderr=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = self._console(stderr=True)
        return self._err

    def _console(self, *, stderr: bool) -> Console:
        from rich.console import Console

        stream = sys.stderr if stderr else sys.stdout
        # Off a terminal (pipes, CI logs) Rich would assume 80 columns and squeeze tables.
        width = None if stream.isatty() or os.environ.get("COLUMNS") else 250
        return Console(
            stderr=stderr,
            no_color=self.no_color,
            highlight=False,
            emoji=False,
            width=width,
        )

    # -- messages (stderr) -----------------------------------------------------------

    def error(self, message: str, hint: str | None = None) -> None:
        self._message("error", "bold red", message)
        if hint:
            self._message("hint", "cyan", hint)

    def warning(self, message: str) -> None:
        self._message("warning", "yellow", message)

    def info(self, message: str) -> None:
        self._message(None, None, message)

    def _message(self, label: str | None, style: str | None, message: str) -> None:
        line = message.replace("\n", " ")
        if self.no_color or not sys.stderr.isatty():
            sys.stderr.write(f"{label}: {line}\n" if label else f"{line}\n")
            sys.stderr.flush()
            return
        from rich.text import Text

        text = Text()
        if label:
            text.append(f"{label}:", style=style)
            text.append(" ")
        text.append(line)
        self.err.print(text)

    def problems(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            if p.severity == "error":
                self.error(str(p))
            else:
                self.warning(str(p))

    # -- data (stdout) ---------------------------------------------------------------

    def records(
        self,
        records: Sequence[dict[str, Any]],
        output: OutputFormat,
        *,
        columns: Sequence[str] | None = None,
        title: str | None = None,
    ) -> None:
        """Records as a plain table, or as JSON/YAML/CSV with every key."""
        if output == OutputFormat.table:
            cols = list(columns or (records[0].keys() if records else []))
            table = self.table(*cols, title=title)
            for rec in records:
                table.add_row(*(fmt_num(rec.get(c)) for c in cols))
            self.out.print(table)
        else:
            self.structured(list(records), output)

    def structured(self, data: Any, output: OutputFormat) -> None:
        """JSON, YAML or CSV on stdout (CSV wants a list of flat records)."""
        if output == OutputFormat.json:
            sys.stdout.write(json.dumps(json_value(data), indent=2, ensure_ascii=False) + "\n")
        elif output == OutputFormat.yaml:
            import yaml

            sys.stdout.write(yaml.safe_dump(json_value(data), sort_keys=False, allow_unicode=True))
        elif output == OutputFormat.csv:
            rows = data if isinstance(data, list) else [data]
            fieldnames: list[str] = []
            for row in rows:
                fieldnames.extend(k for k in row if k not in fieldnames)
            writer = csv.DictWriter(sys.stdout, fieldnames=fieldnames, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_cell(v) for k, v in row.items()})
        else:  # pragma: no cover - table is rendered by the caller
            raise ValueError(output)
        sys.stdout.flush()

    def table(self, *columns: str, title: str | None = None) -> Any:
        from rich import box
        from rich.table import Table

        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        for col in columns:
            table.add_column(col, no_wrap=True)
        return table

    # -- ranges ----------------------------------------------------------------------

    def ranges(self, rows: Sequence[Any], output: OutputFormat, *, title: str | None) -> None:
        if output != OutputFormat.table:
            self.structured([r.as_dict() for r in rows], output)
            return
        if not rows:
            self.info("no ranges")
            return
        show_owner = len({r.customer for r in rows}) > 1 or title is None
        cols = ["customer"] if show_owner else []
        table = self.table(
            *cols,
            "kpi",
            "critical",
            "risk",
            "healthy",
            "weight",
            "playbook",
            "source",
            title=title,
        )
        for row in rows:
            r = row.range
            cells = [row.customer or "(defaults)"] if show_owner else []
            cells += [
                row.kpi_name,
                _styled(band_text(r.critical), "red"),
                _styled(band_text(r.risk), "yellow"),
                _styled(band_text(r.healthy), "green"),
                fmt_num(r.weight),
                r.playbook or "",
                row.source,
            ]
            table.add_row(*cells)
        self.out.print(table)

    # -- plans -----------------------------------------------------------------------

    def plan_printer(self) -> PlanPrinter:
        """For a plan that arrives a chunk at a time: add them, then ``finish``."""
        return PlanPrinter(self)

    def plan_document(self) -> PlanDocument:
        """For ``-o json`` of a plan that arrives a chunk at a time: add, then ``finish``."""
        return PlanDocument()

    def lines(self, lines: Iterable[tuple[str | None, str]]) -> None:
        """Styled lines to stdout, fast: plans can have 100,000 lines, and Rich's
        per-line rendering costs milliseconds each, so colours are plain ANSI codes."""
        colour = not self.no_color and sys.stdout.isatty()
        write = sys.stdout.write
        for style, text in lines:
            if colour and style:
                write(f"{ANSI[style]}{text}\x1b[0m\n")
            else:
                write(text + "\n")
        sys.stdout.flush()


ANSI = {
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "red": "\x1b[31m",
    "magenta": "\x1b[35m",
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
}


class PlanPrinter:
    """Shows a plan that arrives a chunk at a time (``seed``). The lines wait in a
    temporary file (a plan can have 100,000 of them) until the whole plan is known and
    valid, then go to stdout with the summary: a seed that fails on a bad file shows
    no plan, as when the plan came whole."""

    def __init__(self, renderer: Renderer) -> None:
        import tempfile

        self.renderer = renderer
        self.colour = not renderer.no_color and sys.stdout.isatty()
        self.hidden = 0  # scopes planned with nothing to show: they count as unchanged
        # open across add() calls; finish() closes it, and a failed seed drops it
        self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=1 << 20, mode="w+", encoding="utf-8"
        )

    def add(self, plan: Plan) -> None:
        """The plan of some scopes, in the order they are to be shown."""
        write, colour = self._spool.write, self.colour
        for scope in plan.scopes:
            if not _scope_shown(scope):
                self.hidden += 1
                continue
            for style, text in _scope_lines(scope):
                write(f"{ANSI[style]}{text}\x1b[0m\n" if colour and style else text + "\n")

    def finish(self, totals: PlanTotals) -> None:
        """Print the plan: every scope's lines, then the summary of ``totals``."""
        import shutil

        self._spool.seek(0)
        shutil.copyfileobj(self._spool, sys.stdout)
        self._spool.close()
        unchanged = totals.unchanged + self.hidden
        self.renderer.lines(_plan_summary(unchanged, totals.adds, totals.changes, totals.removes))


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
            text = json.dumps(json_value(change), indent=2, ensure_ascii=False)
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
            write(f",\n  {json.dumps(key)}: {json.dumps(json_value(value), ensure_ascii=False)}")
        write("\n}\n")
        sys.stdout.flush()


def _scope_shown(scope: Any) -> bool:
    """Whether a scope's plan has anything to show (else it counts as unchanged)."""
    return bool(
        scope.changes
        or scope.kept
        or scope.refusal
        or scope.name_change
        or not scope.customer_exists
        or scope.needs_revision
    )


def _scope_lines(scope: Any) -> Iterator[tuple[str | None, str]]:
    file = scope.file
    label = "defaults" if file.customer is None else f"customer {file.customer}"
    rec = scope.recorded
    version = f"v{file.version}" + (f", database v{rec.version}" if rec else ", not applied yet")
    yield "bold", f"{label}  ({file.path}, {version})"
    if not scope.customer_exists:
        yield "green", f"  + create customer {file.customer} ({file.display_name})"
    if scope.name_change:
        old, new = scope.name_change
        yield "yellow", f"  ~ customer name: {old!r} -> {new!r}"
    if scope.refusal:
        note = " (forced)" if scope.forced else ""
        yield ("yellow" if scope.forced else "red"), f"  ! refused: {scope.refusal}{note}"
    for change in scope.changes:
        yield _change_line(change)
    for kept in scope.kept:
        yield (
            "dim",
            f"  = {kept.kpi_name}: kept (in the database, not in the file; --prune removes it)",
        )
    if not scope.changes and scope.customer_exists and not scope.name_change:
        yield "dim", "  no row changes (a new revision is recorded)"


def _plan_summary(
    unchanged: int, adds: int, changes: int, removes: int
) -> Iterator[tuple[str | None, str]]:
    if unchanged:
        noun = "scope" if unchanged == 1 else "scopes"
        yield "dim", f"{unchanged} {noun} unchanged"
    yield "bold", f"Plan: {adds} to add, {changes} to change, {removes} to remove."


def _styled(text: str, style: str) -> Any:
    from rich.text import Text

    return Text(text, style=style) if text else ""


def _change_text(change: Any) -> Any:
    from rich.text import Text

    style, text = _change_line(change)
    return Text(text, style or "")


def _change_line(change: Any) -> tuple[str, str]:
    if change.action == "add":
        fields = " ".join([f"{k}={_num_text(new)}" for k, (_old, new) in change.fields.items()])
        return "green", f"  + {change.kpi_name}: {fields}"
    if change.action == "remove":
        return "red", f"  - {change.kpi_name}"
    fields = ", ".join(
        f"{k}: {fmt_num(old) or 'none'} -> {fmt_num(new) or 'none'}"
        for k, (old, new) in change.fields.items()
    )
    return "yellow", f"  ~ {change.kpi_name}: {fields}"


def _num_text(value: Any) -> str:
    """fmt_num, quicker for the floats that make up most of a plan's 100,000 lines."""
    if value.__class__ is float and value.is_integer() and -1e15 < value < 1e15:
        return str(int(value))
    return fmt_num(value)


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


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(json_value(value))
    return fmt_num(value) if isinstance(value, float) else value


# -- drift, comparison and history (kpictl diff, export, history) -----------------------


def render_drift(renderer: Renderer, report: DriftReport, output: OutputFormat) -> None:
    """``diff``: the differing scopes as a plan (database -> file), then a summary line.

    JSON and YAML give the whole report; CSV gives its changes, one row each.
    """
    if output == OutputFormat.csv:
        _csv_records(plan_changes(report.plan), CHANGE_FIELDS)
        return
    if output != OutputFormat.table:
        renderer.structured({"changes": plan_changes(report.plan), **report.as_dict()}, output)
        return
    from rich.text import Text

    out = renderer.out
    for scope in report.scopes:
        if scope.differs:
            for line in _scope_drift_lines(scope):
                out.print(line)
    if report.defaults_without_file:
        orphan = report.defaults_without_file
        out.print(Text("system defaults in the database without a defaults.yaml", "bold"))
        out.print(Text(f"  ? {_orphan_text(orphan)}", "magenta"))
    if report.customers_without_file:
        out.print(Text("customers in the database without a file", "bold"))
        for orphan in report.customers_without_file:
            out.print(
                Text(f"  ? {orphan.scope} ({orphan.name}): {_orphan_text(orphan)}", "magenta")
            )
    total = len(report.scopes)
    if not report.differs:
        noun = "scope" if total == 1 else "scopes"
        out.print(Text(f"No differences: the database matches the files ({total} {noun}).", "bold"))
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
    out.print(Text(f"Diff: {scopes} {verb}; " + ", ".join(parts) + ".", "bold"))


CHANGE_FIELDS = ("scope", "kpi_name", "action", "fields")
HISTORY_FIELDS = (
    "scope",
    "version",
    "applied_at",
    "applied_by",
    "adds",
    "changes",
    "removes",
    "sha256",
    "content_sha256",
)


def _csv_records(rows: Sequence[dict[str, Any]], fieldnames: Sequence[str]) -> None:
    """CSV with a fixed header, also when there are no rows."""
    writer = csv.DictWriter(sys.stdout, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(row.get(k)) for k in fieldnames})
    sys.stdout.flush()


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    plural = noun.replace("customer ", "customers ") if noun.startswith("customer ") else noun + "s"
    return f"{n} {plural}"


def _orphan_text(orphan: Any) -> str:
    version = (
        f"database v{orphan.database_version}"
        if orphan.database_version is not None
        else "no revision"
    )
    return f"{_count(orphan.ranges, 'range')}, {version}"


def _scope_drift_lines(scope: Any) -> list[Any]:
    from rich.text import Text

    plan, file = scope.plan, scope.file
    head = Text()
    head.append("defaults" if file.customer is None else f"customer {file.customer}", style="bold")
    if scope.database_version is not None:
        db_side = f"database v{scope.database_version}"
    elif plan.customer_exists:
        db_side = "database: no revision"
    else:
        db_side = "not in the database"
    head.append(f"  ({file.path}: file v{file.version}, {db_side})", style="dim")
    lines = [head]
    if not plan.customer_exists:
        lines.append(Text(f"  + create customer {file.customer} ({file.display_name})", "green"))
    if plan.name_change:
        old, new = plan.name_change
        lines.append(Text(f"  ~ customer name: {old!r} -> {new!r}", "yellow"))
    if scope.database_version is not None and scope.version_differs:
        lines.append(Text(f"  ~ version: {scope.database_version} -> {file.version}", "yellow"))
    elif plan.customer_exists and scope.database_version is None:
        lines.append(Text(f"  + no revision recorded: seed records v{file.version}", "green"))
    if scope.scoring_change:
        old, new = scope.scoring_change
        lines.append(Text(f"  ~ scoring: {_compact(old)} -> {_compact(new)}", "yellow"))
    if plan.refusal:
        lines.append(Text(f"  ! seed would refuse: {plan.refusal}", "red"))
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
        lines.append(Text(f"  ! drift: {drift.kpi_name} {text}", "magenta"))
    for change in plan.changes:
        if change.action == "remove":
            lines.append(Text(f"  - {change.kpi_name} (in the database, not in the file)", "red"))
        else:
            lines.append(_change_text(change))
    if (
        not plan.changes
        and not scope.drift
        and plan.customer_exists
        and not plan.name_change
        and not scope.scoring_change
        and not scope.version_differs
    ):
        lines.append(Text("  ~ content differs from the recorded revision", "yellow"))
    return lines


def _compact(value: Any) -> str:
    return "none" if value is None else json.dumps(json_value(value), separators=(", ", ": "))


def render_comparison(renderer: Renderer, comparison: Comparison, output: OutputFormat) -> None:
    """``diff --against``: both sides of every KPI that differs, with their sources."""
    if output == OutputFormat.csv:
        _csv_records(comparison.as_dict()["changes"], CHANGE_FIELDS)
        return
    if output != OutputFormat.table:
        renderer.structured(comparison.as_dict(), output)
        return
    from rich.text import Text

    left, right = comparison.left, comparison.right_label
    if not comparison.differs:
        renderer.out.print(
            Text(f"No differences: {left} and {right} have the same effective ranges.", "bold")
        )
        return
    n = len(comparison.kpis)
    table = renderer.table(
        "kpi",
        "scope",
        "source",
        "critical",
        "risk",
        "healthy",
        "weight",
        "playbook",
        title=f"effective ranges of {left} against {right}: "
        + (f"{n} KPIs differ" if n != 1 else "1 KPI differs"),
    )
    for kpi in comparison.kpis:
        changed = set(kpi.fields)
        for i, (label, row) in enumerate(((left, kpi.left), (right, kpi.right))):
            cells: list[Any] = [kpi.kpi_name if i == 0 else "", label]
            if row is None:
                cells += ["(none)", "", "", "", "", ""]
            else:
                r = row.range
                cells += [
                    row.source,
                    _diff_cell(band_text(r.critical), "red", "critical", changed),
                    _diff_cell(band_text(r.risk), "yellow", "risk", changed),
                    _diff_cell(band_text(r.healthy), "green", "healthy", changed),
                    _diff_cell(fmt_num(r.weight), "", "weight", changed),
                    _diff_cell(r.playbook or "", "", "playbook", changed),
                ]
            table.add_row(*cells, end_section=i == 1)
    renderer.out.print(table)


def _diff_cell(text: str, style: str, column: str, changed: set[str]) -> Any:
    from rich.text import Text

    differs = any(c == column or c.startswith(f"{column}_") for c in changed)
    return Text(text, style=f"{style} bold".strip() if differs else style) if text else ""


def render_history(renderer: Renderer, revisions: Sequence[Revision], output: OutputFormat) -> None:
    """``history``: the revision log, newest first (the sha256 shortened in the table)."""
    if output == OutputFormat.csv:
        _csv_records([r.as_dict() for r in revisions], HISTORY_FIELDS)
        return
    if output != OutputFormat.table:
        renderer.structured([r.as_dict() for r in revisions], output)
        return
    if not revisions:
        renderer.info("no revisions recorded")
        return
    table = renderer.table(
        "scope", "version", "applied at", "applied by", "adds", "changes", "removes", "sha256"
    )
    for rev in revisions:
        table.add_row(
            rev.scope or "(defaults)",
            f"v{rev.version}",
            _iso_text(rev.applied_at) if rev.applied_at else "",
            rev.applied_by,
            str(rev.adds),
            str(rev.changes),
            str(rev.removes),
            rev.sha256[:12],
        )
    renderer.out.print(table)


def write_document(text: str) -> None:
    """A whole document (an exported range file) on stdout, as it is."""
    sys.stdout.write(text)
    sys.stdout.flush()


# -- health scores and observations (kpictl score, kpictl observations) -----------------

ProgressFn = Callable[[int, "int | None"], None]


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
    head.append(_score_text(card.score), style="bold")
    head.append("  ")
    head.append(card.status, style=f"bold {STATUS_STYLE.get(card.status, '')}")
    at = f", at {_iso_text(card.at)}" if card.at else ""
    head.append(f"  ({card.model} model{at})", style="dim")
    out.print(head)
    if card.previous is not None:
        prev = card.previous
        change = card.change or 0.0
        trend = Text("previous ")
        trend.append(_score_text(prev.score))
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


def _score_text(score: float) -> str:
    return fmt_num(round(score, 2))


def _iso_text(value: Any) -> str:
    """A time: ISO 8601 UTC, to the second, with a Z (kpictl.timestamps)."""
    from kpictl.timestamps import iso

    return iso(value)


def _operand(value: Any) -> str:
    text = fmt_num(value)
    return f"({text})" if text.startswith("-") else text


def _value_origin(kpi: Any, *, short: bool = False) -> str:
    """Where a value comes from: its observation's time, --set or --values."""
    if kpi.value_source == "observation" and kpi.observed_at is not None:
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
                last, text = s.score, _score_text(s.score)
            score, alerts = text, str(s.alerts)
        yield (s.customer, score, s.status or "", s.model or "", alerts, s.reason or "")


def write_json_records(records: Iterable[dict[str, Any]]) -> None:
    """A JSON list on stdout, exactly as ``structured`` writes it (indent 2, whole
    numbers as integers), one record at a time: 100,000 records are never one string."""
    write = sys.stdout.write
    first = True
    for record in records:
        write("[\n" if first else ",\n")
        first = False
        write(_json_record(record))
    write("[]\n" if first else "\n]\n")
    sys.stdout.flush()


_encode_json_str = json.encoder.encode_basestring  # json.dumps' with ensure_ascii=False


def _json_record(record: dict[str, Any]) -> str:
    """A flat record as an item of an indented JSON list (json.dumps(indent=2))."""
    parts = []
    for key, value in record.items():
        kind = type(value)
        if value is None:
            text = "null"
        elif kind is str:
            text = _encode_json_str(value)
        elif kind is int:
            text = int.__repr__(value)
        elif kind is float and math.isfinite(value):
            whole = value.is_integer() and abs(value) < 1e15
            text = int.__repr__(int(value)) if whole else float.__repr__(value)
        else:  # anything else (NaN, a nested value): as json.dumps writes it
            block = json.dumps(json_value(record), indent=2, ensure_ascii=False)
            return "  " + block.replace("\n", "\n  ")
        parts.append(f"    {_encode_json_str(key)}: {text}")
    if not parts:
        return "  {}"
    return "  {\n" + ",\n".join(parts) + "\n  }"


def render_observations(
    renderer: Renderer, rows: Sequence[Observation], output: OutputFormat, *, title: str
) -> None:
    """``observations list``."""
    records = [r.as_dict() for r in rows]
    if output == OutputFormat.table and not records:
        renderer.info("no observations")
        return
    renderer.records(records, output, columns=["kpi_name", "observed_at", "value"], title=title)


@contextmanager
def progress(renderer: Renderer, description: str, *, unit: str) -> Iterator[ProgressFn]:
    """A progress bar on stderr while work runs, as a ``(done, total)`` callback.

    Only when both stderr and stdout are terminals: piped or captured runs stay quiet.
    """
    if not (sys.stderr.isatty() and sys.stdout.isatty()):
        yield _no_progress
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    count = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        count,
        TimeElapsedColumn(),
        console=renderer.err,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _no_progress(done: int, total: int | None) -> None:
    return None
