"""``-o csv``: one flat table per command, with a fixed header (SPEC §7).

Every command's header is here and nowhere else (docs/csv.md lists them; a test keeps
the two the same). One row per record, every cell a scalar: a number as ``fmt_num``
writes it, a string, or empty for none. Booleans are ``true``/``false``.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kpictl.numbers import fmt_num
from kpictl.rangefiles.model import RANGE_COLUMNS

if TYPE_CHECKING:
    from kpictl.isolation import CheckResult
    from kpictl.rangefiles.model import Problem
    from kpictl.render.console import OutputFormat
    from kpictl.scoring import ScoreCard

# One row per added, changed or removed row: ``fields`` names the columns that change
# (space-separated); each column's old and new value follow (empty: none, or unchanged).
CHANGE_HEADER = (
    "scope",
    "kpi_name",
    "action",
    "fields",
    *(f"{column}_{side}" for column in RANGE_COLUMNS for side in ("old", "new")),
)

CSV_HEADERS: dict[str, tuple[str, ...]] = {
    "list": ("customer", "kpi_name", *RANGE_COLUMNS, "source"),
    "diff": CHANGE_HEADER,
    "diff --against": CHANGE_HEADER,
    "seed": CHANGE_HEADER,
    "verify-isolation": ("name", "ok", "status", "violations", "reason"),
    "score": (
        "customer",
        "model",
        "score",
        "status",
        "coverage",
        "at",
        "kpi_name",
        "value",
        "kpi_status",
        "weight",
        "points",
        "coefficient",
        "term",
        "source",
        "playbook",
        "value_source",
        "observed_at",
        "skipped_reason",
    ),
    "score --all": ("customer", "model", "score", "status", "coverage", "alerts", "reason"),
    "history": (
        "scope",
        "version",
        "applied_at",
        "applied_by",
        "adds",
        "changes",
        "removes",
        "sha256",
        "content_sha256",
    ),
    "customers list": ("slug", "name", "own_ranges", "created_at"),
    "observations list": ("customer", "kpi_name", "observed_at", "value"),
    "observations import": ("source", "rows", "inserted", "replaced", "unchanged"),
    "validate": ("path", "line", "where", "severity", "message"),
    "tokens list": (
        "token_id",
        "customer",
        "label",
        "state",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ),
    "adopt": ("kind", "section", "action", "what", "customer_id", "slug", "range_ids"),
}


# OWASP "CSV injection": a spreadsheet reads a cell that starts with one of these as a
# formula (=HYPERLINK(...), +cmd|..., -2+3, @SUM(...)), also after a tab or CR.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any, *, raw: bool = False) -> str:
    """A scalar as a CSV cell. Text that a spreadsheet would run as a formula gets a
    leading ``'`` (unless ``raw``); a number never does (``-15`` stays ``-15``)."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt_num(value)
    if isinstance(value, (dict, list, tuple)):  # pragma: no cover - a bug in a row builder
        raise TypeError(f"a CSV cell must be a scalar, got {type(value).__name__}")
    text = str(value)
    if not raw and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def write_csv(command: str, rows: Iterable[Mapping[str, Any]], output: OutputFormat) -> None:
    """The command's header, then one line per row (``-o csv-raw``: no neutralising)."""
    from kpictl.render.console import OutputFormat
    from kpictl.render.formats import chunked_stdout

    raw = output == OutputFormat.csv_raw
    header = CSV_HEADERS[command]
    with chunked_stdout() as write:
        writer = csv.writer(_Lines(write), lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:  # keys outside the header are left out: the header is the contract
            writer.writerow([cell(row.get(name), raw=raw) for name in header])
    sys.stdout.flush()


class _Lines:
    """A writer for the csv module, rows ending in ``\n``. The writer is told ``\r\n``
    so that it quotes a cell holding a CR (with ``\n`` alone it would not, and a reader
    would take the CR for the end of the row)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    def write(self, row: str) -> None:
        self._write(row[:-2] + "\n")


# -- row builders for records that are not flat ------------------------------------------


def change_row(change: Mapping[str, Any]) -> dict[str, Any]:
    """A change in the SPEC's diff shape (``fields: {column: {old, new}}``) as one row."""
    fields = change["fields"]
    row = {
        "scope": change["scope"],
        "kpi_name": change["kpi_name"],
        "action": change["action"],
        "fields": " ".join(fields),
    }
    for column, both in fields.items():
        row[f"{column}_old"] = both["old"]
        row[f"{column}_new"] = both["new"]
    return row


def check_row(check: CheckResult) -> dict[str, Any]:
    """One row per check: its violations' messages joined with ``; ``."""
    return {
        "name": check.name,
        "ok": check.ok,
        "status": check.status,
        "violations": "; ".join(v.message for v in check.violations),
        "reason": check.skipped or "",
    }


def score_rows(card: ScoreCard) -> list[dict[str, Any]]:
    """One row per KPI of the card (then one per skipped KPI not among them), each with
    the customer's overall score and status."""
    overall = {
        "customer": card.customer,
        "model": card.model,
        "score": card.score,
        "status": card.status,
        "coverage": card.coverage,
        "at": card.as_dict()["at"],
    }
    skipped = {s.kpi_name: s.reason for s in card.skipped}
    rows = []
    for kpi in card.kpis:
        data = kpi.as_dict()
        data["kpi_status"] = data.pop("status")
        rows.append({**overall, **data, "skipped_reason": skipped.pop(kpi.kpi_name, None)})
    for name, reason in skipped.items():
        rows.append({**overall, "kpi_name": name, "skipped_reason": reason})
    return rows or [overall]


def problem_row(problem: Problem) -> dict[str, Any]:
    return {
        "path": problem.path,
        "line": problem.line,
        "where": problem.where,
        "severity": problem.severity,
        "message": problem.message,
    }
