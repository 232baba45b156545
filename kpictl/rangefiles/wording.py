"""How the checks word what they found: values, numbers, bands, key paths, near-misses."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

from kpictl.numbers import fmt_num
from kpictl.rangefiles.model import Band
from kpictl.rangefiles.yamlstrict import KeyPath


def describe(value: Any) -> str:
    """A value as a message shows it: its YAML kind, then the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        text = str(value) if value.bit_length() < 200 else "(a very large integer)"
        return f"integer {text}"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return f"number {fmt(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


fmt = fmt_num  # the one number formatter (kpictl.numbers)


def band_low(band: Band) -> float:
    return -math.inf if band.min is None else band.min


def band_high(band: Band) -> float:
    return math.inf if band.max is None else band.max


def band_text(band: Band) -> str:
    low = "-inf" if band.min is None else fmt(band.min)
    high = "inf" if band.max is None else fmt(band.max)
    return f"[{low}, {high})"


def key_text(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)


def close_match(word: Any, candidates: Iterable[str]) -> str | None:
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return found[0] if found else None
