"""All output of kpictl: one console, one number formatter, presenters per family.

- ``console``: the Renderer (colours, ``error:``/``hint:`` lines, stdout and stderr)
- ``numbers``: the one number formatter (``fmt_num``) and JSON's numbers
- ``formats``: JSON, YAML and CSV on stdout
- presenters: ``ranges``, ``plans`` (seed and diff), ``scores``, ``isolation`` (with
  JUnit), ``history``, ``customers``, ``observations``, ``problems`` (validate)

Every module imports Rich only when it draws, so importing this package stays cheap.
"""

from kpictl.render.console import (
    STATUS_STYLE,
    OutputFormat,
    ProgressFn,
    Renderer,
    progress,
)
from kpictl.render.customers import render_customers
from kpictl.render.formats import write_document, write_json_records
from kpictl.render.history import HISTORY_FIELDS, render_history
from kpictl.render.isolation import junit_xml, render_isolation
from kpictl.render.numbers import fmt_num, json_value, number_text, score_text
from kpictl.render.observations import render_observations
from kpictl.render.plans import (
    CHANGE_FIELDS,
    PlanDocument,
    PlanPrinter,
    plan_changes,
    render_drift,
    render_seed_changes,
)
from kpictl.render.problems import render_problems, render_validation
from kpictl.render.ranges import band_text, render_comparison, render_ranges
from kpictl.render.scores import render_score_card, render_score_summaries
from kpictl.render.table import Column, Styled, Table
from kpictl.render.text import ANSI, visible

__all__ = [
    "ANSI",
    "CHANGE_FIELDS",
    "HISTORY_FIELDS",
    "STATUS_STYLE",
    "Column",
    "OutputFormat",
    "PlanDocument",
    "PlanPrinter",
    "ProgressFn",
    "Renderer",
    "Styled",
    "Table",
    "band_text",
    "fmt_num",
    "json_value",
    "junit_xml",
    "number_text",
    "plan_changes",
    "progress",
    "render_comparison",
    "render_customers",
    "render_drift",
    "render_history",
    "render_isolation",
    "render_observations",
    "render_problems",
    "render_ranges",
    "render_score_card",
    "render_score_summaries",
    "render_seed_changes",
    "render_validation",
    "score_text",
    "visible",
    "write_document",
    "write_json_records",
]
