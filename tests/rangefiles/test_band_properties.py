"""Properties of band validation, on generated band sets."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kpictl.rangefiles import Band, Catalog, KpiDef, KpiRange, load_range_file

PATH = Path("ranges/customers/acme.yaml")
NUMBERS = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_subnormal=False)
WORST_FIRST = ("critical", "risk", "healthy")


def catalog(better: str) -> Catalog:
    return Catalog(Path("ranges/kpis.yaml"), {"kpi": KpiDef("kpi", "count", better)})  # type: ignore[arg-type]


def document(bands: dict[str, Band], weight: float | None = None) -> bytes:
    lines = ["apiVersion: kpictl/v1", "customer: acme", "version: 1", "ranges:", "  kpi:"]
    for name, band in bands.items():
        bounds = []
        if band.min is not None:
            bounds.append(f"min: {band.min!r}")
        if band.max is not None:
            bounds.append(f"max: {band.max!r}")
        lines.append(f"    {name}: {{{', '.join(bounds)}}}")
    if weight is not None:
        lines.append(f"    weight: {weight!r}")
    return ("\n".join(lines) + "\n").encode()


@st.composite
def ordered_bands(draw: st.DrawFn) -> tuple[str, dict[str, Band], bool]:
    """Bands laid out in the order ``better`` asks for, possibly with gaps and outer bounds."""
    better = draw(st.sampled_from(["higher", "lower", "none"]))
    cuts = sorted(draw(st.sets(NUMBERS, min_size=4, max_size=6)))
    names = list(WORST_FIRST if better != "lower" else reversed(WORST_FIRST))
    keep = draw(st.lists(st.booleans(), min_size=3, max_size=3).filter(any))
    open_below, open_above = draw(st.booleans()), draw(st.booleans())
    gapped = draw(st.booleans())
    bands: dict[str, Band] = {}
    position = 1
    for index, name in enumerate(names):
        low = None if index == 0 and open_below else cuts[position - 1]
        high = None if index == 2 and open_above else cuts[position]
        if keep[index]:
            bands[name] = Band(low, high)
        position += 1
        if gapped and index == 0 and position + 2 < len(cuts):
            position += 1  # skip a cut: a gap between the first and second band
    order = list(bands)
    draw(st.randoms()).shuffle(order)  # the order in the file does not matter
    return better, {n: bands[n] for n in order}, gapped


@settings(max_examples=200, deadline=None)
@given(ordered_bands(), st.one_of(st.none(), st.floats(0, 100)))
def test_valid_band_sets_load_and_round_trip_to_kpi_range(
    case: tuple[str, dict[str, Band], bool], weight: float | None
) -> None:
    better, bands, _ = case
    rangefile, problems = load_range_file(PATH, catalog(better), data=document(bands, weight))
    assert [p for p in problems if p.severity == "error"] == []
    assert all("gap between" in p.message for p in problems)
    assert rangefile is not None
    expected = KpiRange("kpi", weight=1.0 if weight is None else weight, **bands)
    assert rangefile.ranges["kpi"] == expected
    assert KpiRange.from_row("kpi", expected.row()) == expected


def interesting_values(bands: list[Band]) -> list[float]:
    points = sorted({b for band in bands for b in (band.min, band.max) if b is not None})
    values = list(points)
    values += [(a + b) / 2 for a, b in itertools.pairwise(points)]
    if points:
        values += [points[0] - 1, points[-1] + 1]
    return values or [0.0]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["higher", "lower", "none"]),
    st.dictionaries(
        st.sampled_from(WORST_FIRST),
        st.tuples(st.one_of(st.none(), NUMBERS), st.one_of(st.none(), NUMBERS)).filter(
            lambda t: t != (None, None)
        ),
        min_size=1,
    ),
)
def test_a_value_is_in_at_most_one_band_of_a_valid_range_and_overlaps_are_caught(
    better: str, raw: dict[str, tuple[float | None, float | None]]
) -> None:
    bands = {name: Band(lo, hi) for name, (lo, hi) in raw.items()}
    rangefile, problems = load_range_file(PATH, catalog(better), data=document(bands))
    values = interesting_values(list(bands.values()))
    if rangefile is None:
        reasons = " ".join(p.message for p in problems if p.severity == "error")
        if "overlap" in reasons:  # then some value really is in two bands
            assert any(sum(b.contains(v) for b in bands.values()) > 1 for v in values)
        return
    kpi = rangefile.ranges["kpi"]
    present = [kpi.band(n) for n in WORST_FIRST if kpi.band(n) is not None]
    for value in values:
        assert sum(band.contains(value) for band in present) <= 1  # type: ignore[union-attr]
    for band in present:
        assert band.min is None or band.max is None or band.min < band.max  # type: ignore[union-attr]
    if better != "none":
        # The worst band holds the lowest values for "higher", the highest for "lower".
        worst_to_best = [kpi.band(n) for n in WORST_FIRST if kpi.band(n) is not None]
        lows = [-math.inf if b.min is None else b.min for b in worst_to_best]  # type: ignore[union-attr]
        assert lows == sorted(lows, reverse=(better == "lower"))
