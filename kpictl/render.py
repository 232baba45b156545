"""All output of kpictl: Rich tables and colours, JSON, YAML and CSV.

Data goes to stdout, messages to stderr. Rich is imported only when a table or a
coloured message is drawn, so fast commands stay fast.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from kpictl.plan import Plan
    from kpictl.rangefiles.model import Band, Problem

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

    def plan(self, plan: Plan, output: OutputFormat = OutputFormat.table, **extra: Any) -> None:
        if output != OutputFormat.table:
            self.structured({"changes": plan_changes(plan), **extra}, output)
            return
        from rich.text import Text

        for scope in plan.scopes:
            file = scope.file
            head = Text()
            label = "defaults" if file.customer is None else f"customer {file.customer}"
            head.append(label, style="bold")
            rec = scope.recorded
            version = f"v{file.version}" + (
                f", database v{rec.version}" if rec else ", not applied yet"
            )
            head.append(f"  ({file.path}, {version})", style="dim")
            self.out.print(head)
            if not scope.customer_exists:
                self.out.print(
                    Text(f"  + create customer {file.customer} ({file.display_name})", "green")
                )
            if scope.name_change:
                old, new = scope.name_change
                self.out.print(Text(f"  ~ customer name: {old!r} -> {new!r}", "yellow"))
            if scope.refusal:
                style = "yellow" if scope.forced else "red"
                note = " (forced)" if scope.forced else ""
                self.out.print(Text(f"  ! refused: {scope.refusal}{note}", style))
            for change in scope.changes:
                self.out.print(_change_text(change))
            for kept in scope.kept:
                self.out.print(
                    Text(
                        f"  = {kept.kpi_name}: kept (in the database, not in the file; "
                        "--prune removes it)",
                        "dim",
                    )
                )
            if not scope.changes and scope.customer_exists and not scope.name_change:
                self.out.print(Text("  no changes", "dim"))
        adds, changes, removes = plan.count("add"), plan.count("change"), plan.count("remove")
        self.out.print(
            Text(f"Plan: {adds} to add, {changes} to change, {removes} to remove.", "bold")
        )


def _styled(text: str, style: str) -> Any:
    from rich.text import Text

    return Text(text, style=style) if text else ""


def _change_text(change: Any) -> Any:
    from rich.text import Text

    if change.action == "add":
        fields = " ".join(f"{k}={fmt_num(new)}" for k, (_old, new) in change.fields.items())
        return Text(f"  + {change.kpi_name}: {fields}", "green")
    if change.action == "remove":
        return Text(f"  - {change.kpi_name}", "red")
    fields = ", ".join(
        f"{k}: {fmt_num(old) or 'none'} -> {fmt_num(new) or 'none'}"
        for k, (old, new) in change.fields.items()
    )
    return Text(f"  ~ {change.kpi_name}: {fields}", "yellow")


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
