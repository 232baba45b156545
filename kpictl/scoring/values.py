"""The values ``score SLUG`` is given on the command line (``--values FILE``, ``--set
KPI=VALUE``) and the time it scores at (``--at``), read and checked."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from kpictl import observations as obs
from kpictl.errors import InvalidInput
from kpictl.rangefiles.yamlstrict import StrictYamlError, read_yaml
from kpictl.scoring.card import InputValue

MAX_VALUES_BYTES = 1_048_576
"""A ``--values`` file larger than this (1 MiB) is refused, read no further."""

# -- times and KPI names -------------------------------------------------------------


def parse_at(text: str | None) -> datetime:
    """``--at``: ISO 8601 (UTC without a zone); None means now."""
    if text is None:
        return datetime.now(timezone.utc)
    try:
        return obs.parse_timestamp(text)
    except ValueError as exc:
        raise InvalidInput(f"--at: {exc}") from None


# -- values given on the command line ------------------------------------------------


def parse_sets(sets: Sequence[str]) -> dict[str, InputValue]:
    """``--set KPI=VALUE`` options; a later one for the same KPI wins."""
    out: dict[str, InputValue] = {}
    for item in sets:
        kpi, sep, raw = item.partition("=")
        if not sep or not kpi.strip():
            raise InvalidInput(
                f"--set {obs.shown(item)}: expected KPI=VALUE, e.g. error_rate_pct=2.5"
            )
        try:
            value = obs.parse_number(raw)
        except ValueError as exc:
            raise InvalidInput(f"--set {obs.shown(item)}: {exc}") from None
        out[kpi.strip()] = InputValue(value, "set")
    return out


def load_values(
    source: Path | IO[bytes], *, customer: str, at: datetime, display: str | None = None
) -> dict[str, InputValue]:
    """``--values FILE``: a YAML or JSON mapping of KPI to number, or a CSV file.

    A CSV file has the columns kpi_name and value, and may have customer and
    observed_at (an observations file): rows of other customers and rows after ``at``
    are left out, and per KPI the latest row (else the last line) wins.
    """
    if isinstance(source, Path):
        name = display or str(source)
        try:
            with source.open("rb") as handle:
                data = handle.read(MAX_VALUES_BYTES + 1)
        except OSError as exc:
            raise InvalidInput(f"--values {name}: {exc.strerror or exc}") from None
        is_csv = source.suffix.lower() == ".csv" or (
            source.suffix.lower() not in (".yaml", ".yml", ".json") and _looks_like_csv(data)
        )
    else:
        name = display or "<stdin>"
        data = source.read(MAX_VALUES_BYTES + 1)
        is_csv = _looks_like_csv(data)
    if len(data) > MAX_VALUES_BYTES:
        raise InvalidInput(
            f"--values {name}: larger than 1 MiB (the limit is {MAX_VALUES_BYTES:,} bytes)",
            hint="give the values of one customer; 'kpictl observations import' takes many",
        )
    if is_csv:
        return _values_from_csv(data, name, customer=customer, at=at)
    return _values_from_mapping(data, name)


def _looks_like_csv(data: bytes) -> bool:
    first = data.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    return b"kpi_name" in first and b"," in first and b":" not in first


def _values_from_mapping(data: bytes, name: str) -> dict[str, InputValue]:
    try:
        document = read_yaml(data)
    except StrictYamlError as exc:
        where = f"{name}:{exc.line}" if exc.line else name
        raise InvalidInput(
            f"--values {where}: {exc.message}",
            hint="a YAML or JSON mapping of KPI name to number, e.g. {error_rate_pct: 2.5}",
        ) from None
    if document.issues:
        issue = document.issues[0]
        raise InvalidInput(f"--values {name}:{issue.line}: {issue.message}")
    out: dict[str, InputValue] = {}
    for kpi, value in document.data.items():
        line = document.line((kpi,))
        if not isinstance(kpi, str):
            raise InvalidInput(f"--values {name}:{line}: a KPI name must be a string: {kpi!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(f"--values {name}:{line} {kpi}: must be a number, got {value!r}")
        try:
            number = float(value)  # an integer of hundreds of digits: OverflowError
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise InvalidInput(f"--values {name}:{line} {kpi}: must be a finite number")
        out[kpi] = InputValue(number, "values")
    return out


def _values_from_csv(
    data: bytes, name: str, *, customer: str, at: datetime
) -> dict[str, InputValue]:
    reader = obs.CsvReader(
        io.BytesIO(data),
        name,
        required=("kpi_name", "value"),
        optional=("customer", "observed_at"),
    )
    best: dict[str, obs.CsvRow] = {}
    for row in reader:
        if row.customer is not None and row.customer != customer:
            continue
        if row.observed_at is not None and row.observed_at > at:
            continue
        held = best.get(row.kpi_name)
        if held is None or (held.observed_at or at) <= (row.observed_at or at):
            best[row.kpi_name] = row
    if reader.problem_count:
        raise InvalidInput(f"--values {reader.failure(writes=False).message}")
    return {k: InputValue(r.value, "values", r.observed_at) for k, r in sorted(best.items())}
