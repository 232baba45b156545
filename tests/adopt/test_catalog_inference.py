"""``better`` read from the stored bands (pure): healthy above critical is higher,
below is lower; one band only, or rows that disagree, give none — always marked for
review — and the generated kpis.yaml is itself a valid catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpictl.adopt.catalog import build_catalog, catalog_text, infer
from kpictl.rangefiles import KpiDef, KpiRange, load_catalog, load_range_file
from kpictl.rangefiles.model import Catalog

N = None
HIGHER = {"critical_max": 500.0, "risk_min": 500.0, "risk_max": 2000.0, "healthy_min": 2000.0}
LOWER = {"critical_min": 5.0, "risk_min": 1.0, "risk_max": 5.0, "healthy_max": 1.0}
ONE_BAND = {"healthy_min": 0.0, "healthy_max": 10.0}
TARGET = {"critical_max": 1.0, "healthy_min": 1.0, "healthy_max": 2.0, "risk_min": 2.0}


def _range(kpi: str, bounds: dict[str, float]) -> KpiRange:
    return KpiRange.from_row(kpi, bounds)


@pytest.mark.parametrize(
    ("rows", "better", "why"),
    [
        ([HIGHER], "higher", "healthy above critical"),
        ([LOWER], "lower", "healthy below critical"),
        ([HIGHER, HIGHER], "higher", "healthy above critical"),
        ([ONE_BAND], "none", "no stored row has two bands"),
        ([HIGHER, LOWER], "none", "order their bands both ways"),
        ([TARGET], "none", "order their bands both ways"),
    ],
)
def test_better_from_the_band_order(rows, better, why) -> None:
    entry = infer("k", [_range("k", r) for r in rows])
    assert entry.definition.better == better
    assert entry.definition.unit == "unknown"
    assert entry.review is not None and why in entry.review


def test_an_existing_definition_is_kept_and_not_marked() -> None:
    existing = {"k": KpiDef("k", "USD", "higher", "Spend")}
    entries = build_catalog({"k": [_range("k", LOWER)], "j": [_range("j", LOWER)]}, existing)
    assert entries["k"].definition == existing["k"] and entries["k"].review is None
    assert entries["j"].definition.better == "lower" and entries["j"].review


def test_the_generated_catalog_is_valid_and_the_ranges_pass_it(tmp_path: Path) -> None:
    ranges = {"up": _range("up", HIGHER), "down": _range("down", LOWER), "t": _range("t", TARGET)}
    entries = build_catalog({k: [r] for k, r in ranges.items()}, None)
    path = tmp_path / "kpis.yaml"
    path.write_text(catalog_text(entries))
    catalog, problems = load_catalog(path)
    assert problems == [] and isinstance(catalog, Catalog)
    assert "# review: better: none" in path.read_text()
    from kpictl.export import range_file_text

    text = range_file_text(customer=None, name=None, version=1, scoring=None, ranges=ranges)
    loaded, problems = load_range_file(tmp_path / "defaults.yaml", catalog, data=text.encode())
    assert loaded is not None and problems == []
