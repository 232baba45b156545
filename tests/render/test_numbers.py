"""The one number formatter: every display of a number goes through fmt_num."""

from __future__ import annotations

import math
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kpictl.numbers import fmt_num, json_value, number_text, score_text

KPICTL = Path(__file__).resolve().parents[2] / "kpictl"


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**18), 10**18))
def test_the_fast_path_writes_what_fmt_num_writes(value: float) -> None:
    assert number_text(value) == fmt_num(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_fmt_num_reads_back_as_the_same_number(value: float) -> None:
    assert float(fmt_num(value)) == value or (value == 0 and float(fmt_num(value)) == 0)


def test_whole_numbers_print_as_integers() -> None:
    assert fmt_num(956.0) == "956"
    assert fmt_num(52.14) == "52.14"
    assert fmt_num(None) == ""
    assert fmt_num(1e20) == "1e+20"
    assert score_text(72.3456) == "72.35"
    assert json_value({"a": [1.0, 0.5]}) == {"a": [1, 0.5]}
    assert math.isnan(float(fmt_num(math.nan)))


def test_no_other_module_formats_numbers_on_its_own() -> None:
    """The old private formatters (is_integer() and repr, ':g') are gone from kpictl/."""
    pattern = re.compile(r"is_integer\(\) and abs\(|:g\}|def _fmt\(|def _num_text\(")
    allowed = {KPICTL / "numbers.py", KPICTL / "render" / "formats.py"}  # the one formatter
    found = [
        f"{path.relative_to(KPICTL)}:{n}"
        for path in KPICTL.rglob("*.py")
        if path not in allowed and path.name != "bench.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
