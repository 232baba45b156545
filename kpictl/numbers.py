"""The one number formatter: how kpictl writes a number for a person.

Every table, message, plan line and CSV cell writes numbers through ``fmt_num`` (or its
fast twin ``number_text``, pinned to it by a property test); JSON and YAML through
``json_value``. Pure and light (a leaf: it imports nothing of kpictl), so the core's messages use it
too; ``kpictl.render`` re-exports it for the presenters.
"""

from __future__ import annotations

from typing import Any

# Below this a whole float prints as an integer (956, not 956.0); above, repr keeps it exact.
_WHOLE_LIMIT = 1e15


def fmt_num(value: Any) -> str:
    """A number as a person writes it: 956 rather than 956.0, 52.14 rather than 52.140000.

    None is the empty string; anything that is not a number is ``str(value)``.
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < _WHOLE_LIMIT:
        return str(int(value))
    return repr(float(value))


def number_text(value: Any) -> str:
    """``fmt_num``, quicker for the floats that make up most of a plan's 100,000 lines."""
    if value.__class__ is float and value.is_integer() and -_WHOLE_LIMIT < value < _WHOLE_LIMIT:
        return str(int(value))
    return fmt_num(value)


def score_text(score: float) -> str:
    """A score as shown: two decimals at most (JSON keeps the full precision)."""
    return fmt_num(round(score, 2))


def json_value(value: Any) -> Any:
    """Numbers that are whole print as integers in JSON/YAML too (956, not 956.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _WHOLE_LIMIT:
        return int(value)
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value
