"""The range files shipped in ranges/: valid, warning-free, and what the product promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpictl.rangefiles import (
    Band,
    KpiRange,
    Scoring,
    load_catalog,
    load_range_file,
    validate_paths,
    yamlstrict,
)
from kpictl.rangefiles.model import BAND_NAMES

SHIPPED = Path(__file__).resolve().parents[2] / "ranges"
KPIS = {
    "daily_invocations": ("count", "higher"),
    "invocations_30d": ("count", "higher"),
    "invocation_velocity_change_pct": ("percent", "higher"),
    "monthly_spend": ("USD", "higher"),
    "days_since_last_invocation": ("days", "lower"),
    "error_rate_pct": ("percent", "lower"),
    "p95_latency_ms": ("ms", "lower"),
    "avg_execution_time_sec": ("seconds", "lower"),
    "cold_start_pct": ("percent", "lower"),
    "health_score": ("points", "higher"),
}
SHIPPED_FILES = sorted(p.relative_to(SHIPPED).as_posix() for p in SHIPPED.rglob("*.yaml"))


def test_the_shipped_ranges_validate_without_any_problem(load_ranges) -> None:
    assert validate_paths([], SHIPPED) == []
    rangeset = load_ranges(SHIPPED)
    assert rangeset.problems == []
    assert rangeset.defaults is not None
    assert sorted(rangeset.customers) == ["acme", "data-center", "globex"]


def test_the_catalog_has_exactly_the_ten_kpis() -> None:
    catalog, _ = load_catalog(SHIPPED / "kpis.yaml")
    assert catalog is not None
    assert {k: (d.unit, d.better) for k, d in catalog.kpis.items()} == KPIS
    assert all(d.description for d in catalog.kpis.values())


def test_the_defaults_cover_every_kpi_with_three_contiguous_bands(load_ranges) -> None:
    defaults = load_ranges(SHIPPED, customers=[]).defaults
    assert defaults is not None
    assert defaults.version == 1
    assert set(defaults.ranges) == set(KPIS)
    for kpi in defaults.ranges.values():
        bands = sorted(
            (kpi.band(n) for n in BAND_NAMES),
            key=lambda b: -float("inf") if b is None or b.min is None else b.min,
        )
        assert None not in bands, kpi.kpi_name
        assert bands[0].min is None and bands[-1].max is None, kpi.kpi_name  # type: ignore[union-attr]
        assert bands[0].max == bands[1].min and bands[1].max == bands[2].min, kpi.kpi_name  # type: ignore[union-attr]
    assert defaults.ranges["health_score"] == KpiRange(
        "health_score", critical=Band(None, 40.0), risk=Band(40.0, 70.0), healthy=Band(70.0, None)
    )
    playbooks = {k.playbook for k in defaults.ranges.values()}
    assert {"usage-drop", "reliability-review", "latency-review", "churn-risk"} <= playbooks


def test_data_center_has_its_own_ranges_and_fitted_model(load_ranges) -> None:
    rangefile = load_ranges(SHIPPED, defaults=False, customers=["data-center"]).customers[
        "data-center"
    ]
    assert (rangefile.name, rangefile.version) == ("Data Center", 1)
    assert set(rangefile.ranges) == set(KPIS)
    assert rangefile.ranges["daily_invocations"].critical == Band(None, 956.0)
    assert rangefile.ranges["invocation_velocity_change_pct"].critical == Band(None, -15.0)
    assert rangefile.ranges["days_since_last_invocation"].critical == Band(8.0, None)
    assert rangefile.scoring == Scoring(
        model="regression",
        intercept=52.14,
        coefficients={"invocation_velocity_change_pct": 0.416},
    )
    text = (SHIPPED / "customers" / "data-center.yaml").read_text()
    assert "not known" in text and "not invented" in text


def test_acme_overrides_two_kpis_and_globex_none(load_ranges) -> None:
    rangeset = load_ranges(SHIPPED, defaults=False)
    acme, globex = rangeset.customers["acme"], rangeset.customers["globex"]
    assert (acme.name, acme.version) == ("Acme Corp", 1)
    assert list(acme.ranges) == ["daily_invocations", "error_rate_pct"]
    assert (globex.name, globex.version, globex.ranges) == ("Globex", 1, {})


@pytest.mark.skipif(not yamlstrict.HAVE_LIBYAML, reason="libyaml is not installed")
@pytest.mark.parametrize("name", SHIPPED_FILES)
def test_both_parsers_read_the_shipped_files_identically(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = SHIPPED / name

    def read() -> object:
        catalog, problems = load_catalog(SHIPPED / "kpis.yaml")
        if path.name == "kpis.yaml":
            return catalog, problems
        return load_range_file(path, catalog)

    with_libyaml = read()
    monkeypatch.setattr(yamlstrict, "FORCE_PURE", True)
    assert read() == with_libyaml
