"""All output of kpictl: one console, one number formatter, presenters per family.

- ``console``: the Renderer (colours, ``error:``/``hint:`` lines, stdout and stderr)
- ``kpictl.numbers`` (a leaf beside this package): the one number formatter, JSON numbers
- ``text``: data made visible (control characters as escapes), measured and wrapped
- ``table``: the one table style, laid out so that no key cell is ever cut
- ``formats``: JSON and YAML on stdout; ``csvout``: flat CSV, every command's header
- presenters: ``ranges``, ``plans`` (seed and diff), ``scores``, ``isolation`` (with
  JUnit), ``history``, ``customers``, ``observations``, ``problems`` (validate)

No module imports Rich or the database layer at import time: the core imports
``numbers`` for its messages, and ``validate`` imports this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kpictl.numbers import fmt_num, json_value, number_text, score_text
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
    from kpictl.render.isolation import render_isolation
    from kpictl.render.junit import junit_xml
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

# Where each public name lives: a module is imported when one of its names is first
# used, so `kpictl --version`, `validate` and the core's messages load only what they use.
_HOMES = {
    "ANSI": "text",
    "CHANGE_FIELDS": "plans",
    "Column": "table",
    "HISTORY_FIELDS": "history",
    "OutputFormat": "console",
    "PlanDocument": "plans",
    "PlanPrinter": "plans",
    "ProgressFn": "console",
    "Renderer": "console",
    "STATUS_STYLE": "console",
    "Styled": "table",
    "Table": "table",
    "band_text": "ranges",
    "fmt_num": "kpictl.numbers",
    "json_value": "kpictl.numbers",
    "junit_xml": "junit",
    "number_text": "kpictl.numbers",
    "plan_changes": "plans",
    "progress": "console",
    "render_comparison": "ranges",
    "render_customers": "customers",
    "render_drift": "plans",
    "render_history": "history",
    "render_isolation": "isolation",
    "render_observations": "observations",
    "render_problems": "problems",
    "render_ranges": "ranges",
    "render_score_card": "scores",
    "render_score_summaries": "scores",
    "render_seed_changes": "plans",
    "render_validation": "problems",
    "score_text": "kpictl.numbers",
    "visible": "text",
    "write_document": "formats",
    "write_json_records": "formats",
}
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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kpictl.render' has no attribute {name!r}")
    module = home if home.startswith("kpictl.") else f"kpictl.render.{home}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
