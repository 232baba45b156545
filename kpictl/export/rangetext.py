"""The database as a range file: what ``kpictl export`` prints.

The file is built from what is stored — the scope's rows, the customer's name, and the
latest revision's version and scoring section — and is a valid range file: loading it
gives back exactly those rows (a property test holds this), and after a seed ``diff``
finds nothing between it and the database.

Layout, so that an export reads like the shipped files and diffs well in git:

- keys in the order of the shipped files: apiVersion, customer, name, version,
  scoring, ranges; per KPI critical, risk, healthy, weight (only when not 1),
  playbook (only when set); bands in flow style, ``{min: 956, max: 2000}``;
- KPIs in the order of the catalog (``kpis.yaml`` of the ranges dir), which is the
  order the shipped files use; KPIs the catalog lacks, or every KPI when there is no
  readable catalog, follow in alphabetical order;
- numbers as a person writes them: ``956``, not ``956.0``; ``0.5``; ``52.14``;
- strings plain where YAML reads them back as the same string, double-quoted otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kpictl.numbers import fmt_num
from kpictl.rangefiles.model import API_VERSION, BAND_NAMES, Band, KpiRange, Scoring

_POINTS_ORDER = ("healthy", "risk", "critical")
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_.\- ]*")
# Words that YAML's core schema reads as null or a boolean, not as a string.
_RESERVED = {"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"}


# -- scalars -------------------------------------------------------------------------------


def yaml_number(value: float) -> str:
    """A number as written: 956, -15, 0.5, 52.14, 1e+20 (read back as the same float)."""
    number = float(value)
    if math.isnan(number):
        return ".nan"
    if math.isinf(number):
        return ".inf" if number > 0 else "-.inf"
    if number == 0 and math.copysign(1.0, number) < 0:
        return "-0.0"
    return fmt_num(number)


def yaml_string(text: str) -> str:
    """A string plain when YAML reads it back unchanged, else double-quoted and escaped."""
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and text not in _RESERVED:
        return text
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F or (
            code >= 0xA0 and code not in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)
        ):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:  # pragma: no cover - only surrogates and the like get here
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _flow(pairs: Sequence[tuple[str, float]]) -> str:
    return "{" + ", ".join(f"{k}: {yaml_number(v)}" for k, v in pairs) + "}"


def _band(band: Band) -> str:
    pairs = [(k, v) for k, v in (("min", band.min), ("max", band.max)) if v is not None]
    return _flow(pairs)


# -- the file --------------------------------------------------------------------------------


def kpi_order(names: Sequence[str] | Mapping[str, Any], catalog: Sequence[str] = ()) -> list[str]:
    """The catalog's order first, then the KPIs it lacks alphabetically."""
    present = set(names)
    known = [k for k in catalog if k in present]
    return known + sorted(present - set(known))


def range_file_text(
    *,
    customer: str | None,
    name: str | None,
    version: int,
    scoring: Scoring | None,
    ranges: Mapping[str, KpiRange],
    catalog_order: Sequence[str] = (),
    comment: str | None = None,
) -> str:
    """A range file (defaults when ``customer`` is None) from its parts. Pure."""
    lines: list[str] = []
    if comment:
        lines += [f"# {line}".rstrip() for line in comment.splitlines()]
    lines.append(f"apiVersion: {API_VERSION}")
    if customer is not None:
        lines.append(f"customer: {yaml_string(customer)}")
        lines.append(f"name: {yaml_string(name or customer)}")
    lines.append(f"version: {version}")
    if scoring is not None:
        lines.append("scoring:")
        lines += ["  " + line for line in _scoring_lines(scoring, catalog_order)]
    if not ranges:
        lines.append("ranges: {}")
    else:
        lines.append("ranges:")
        for kpi in kpi_order(ranges, catalog_order):
            lines.append(f"  {yaml_string(kpi)}:")
            lines += ["    " + line for line in _kpi_lines(ranges[kpi])]
    return "\n".join(lines) + "\n"


def _scoring_lines(scoring: Scoring, catalog_order: Sequence[str]) -> list[str]:
    lines = [f"model: {scoring.model}"]
    if scoring.model == "ranges":
        if scoring.points is not None:
            points = [(k, scoring.points[k]) for k in _POINTS_ORDER if k in scoring.points]
            points += [(k, v) for k, v in scoring.points.items() if k not in _POINTS_ORDER]
            lines.append(f"points: {_flow(points)}")
        return lines + _min_coverage_lines(scoring)
    if scoring.intercept is not None:
        lines.append(f"intercept: {yaml_number(scoring.intercept)}")
    if scoring.coefficients:
        lines.append("coefficients:")
        for kpi in kpi_order(scoring.coefficients, catalog_order):
            lines.append(f"  {yaml_string(kpi)}: {yaml_number(scoring.coefficients[kpi])}")
    else:
        lines.append("coefficients: {}")
    if scoring.clamp is not None:
        lines.append(f"clamp: {_flow([('min', scoring.clamp[0]), ('max', scoring.clamp[1])])}")
    return lines + _min_coverage_lines(scoring)


def _min_coverage_lines(scoring: Scoring) -> list[str]:
    if scoring.min_coverage is None:
        return []
    return [f"min_coverage: {yaml_number(scoring.min_coverage)}"]


def _kpi_lines(kpi_range: KpiRange) -> list[str]:
    lines = []
    for band_name in BAND_NAMES:
        band = kpi_range.band(band_name)
        if band is not None:
            lines.append(f"{band_name}: {_band(band)}")
    if float(kpi_range.weight) != 1.0:
        lines.append(f"weight: {yaml_number(kpi_range.weight)}")
    if kpi_range.playbook is not None:
        lines.append(f"playbook: {yaml_string(kpi_range.playbook)}")
    return lines
