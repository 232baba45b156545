"""One time format in every output: ISO 8601 in UTC, to the second, with a Z
(2026-11-30T19:12:50Z), on both backends (SQLite gives times back without a zone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "observations.csv"
ANY_TIME = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?")
CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

COMMANDS = [
    ["customers", "list"],
    ["customers", "list", "-o", "json"],
    ["customers", "list", "-o", "csv"],
    ["history"],
    ["history", "-o", "json"],
    ["history", "-o", "csv"],
    ["score", "acme"],
    ["score", "acme", "-o", "json"],
    ["score", "acme", "--explain"],
    ["score", "--all"],
    ["observations", "list", "--customer", "acme", "-o", "csv"],
    ["export", "--customer", "acme"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_every_time_shown_has_one_format(kpictl, args) -> None:
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    kpictl("score", "--all", "--save")
    result = kpictl(*args)
    found = ANY_TIME.findall(result.stdout + result.stderr)
    assert found, result.output
    odd = [t for t in found if not CANONICAL.fullmatch(t)]
    assert not odd, f"kpictl {' '.join(args)}: {odd}\n{result.output}"
