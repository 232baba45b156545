"""History: the revision log (``history``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kpictl.render.console import OutputFormat, Renderer
from kpictl.render.csvout import CSV_HEADERS, write_csv
from kpictl.times import iso

if TYPE_CHECKING:
    from kpictl.drift import Revision

HISTORY_FIELDS = CSV_HEADERS["history"]


def render_history(renderer: Renderer, revisions: Sequence[Revision], output: OutputFormat) -> None:
    """``history``: the revision log, newest first (the sha256 shortened in the table)."""
    if output.is_csv:
        write_csv("history", (r.as_dict() for r in revisions), output)
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
            iso(rev.applied_at) if rev.applied_at else "",
            rev.applied_by,
            str(rev.adds),
            str(rev.changes),
            str(rev.removes),
            rev.sha256[:12],
        )
    renderer.print_table(table)
