"""Many files are parsed by a pool of worker processes: same results, same order."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.data import write_ranges
from kpictl.rangefiles import validate_paths
from kpictl.rangefiles.loader import PARALLEL_MIN_FILES


@pytest.fixture
def many(tmp_path: Path) -> Path:
    ranges = write_ranges(tmp_path, PARALLEL_MIN_FILES + 50)
    broken = ranges / "customers" / "customer-000007.yaml"
    broken.write_text(broken.read_text().replace("version: 1", "version: one"))
    (ranges / "customers" / "customer-000100.yaml").write_text("apiVersion: kpictl/v1\n: [\n")
    return ranges


def test_parallel_and_serial_loads_agree(
    load_ranges, many: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parallel = load_ranges(many)
    monkeypatch.setenv("KPICTL_SERIAL", "1")
    serial = load_ranges(many)
    assert parallel.problems == serial.problems
    assert len(parallel.errors) == 2
    assert list(parallel.customers) == list(serial.customers)
    assert parallel.customers == serial.customers
    assert all(
        parallel.customers[s].content_sha256 == serial.customers[s].content_sha256
        for s in serial.customers
    )


def test_parallel_and_serial_validation_agree(many: Path, monkeypatch: pytest.MonkeyPatch):
    parallel = validate_paths([many], many)
    monkeypatch.setenv("KPICTL_SERIAL", "1")
    assert validate_paths([many], many) == parallel
    assert [p.path.rsplit("/", 1)[1] for p in parallel] == [
        "customer-000007.yaml",
        "customer-000100.yaml",
    ]
