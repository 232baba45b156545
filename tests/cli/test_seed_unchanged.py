"""Unchanged files are recognised by their recorded sha256 and not parsed again, while
hand edits in the database and catalog changes are still caught."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url
from kpictl.rangefiles import loader


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The range files (not the catalog) that kpictl parses, in this process."""
    seen: list[str] = []
    real = loader.load_range_file

    def counting(path, catalog, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(path.name)
        return real(path, catalog, **kwargs)

    monkeypatch.setattr(loader, "load_range_file", counting)
    monkeypatch.setenv("KPICTL_SERIAL", "1")  # parse in this process, where we count
    return seen


def execute(db_url: str, sql: str) -> None:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def test_a_second_seed_parses_no_file(kpictl, parsed) -> None:
    kpictl("seed", "--all")
    assert sorted(parsed) == ["acme.yaml", "data-center.yaml", "defaults.yaml", "globex.yaml"]
    parsed.clear()
    again = kpictl("seed", "--all")
    assert parsed == []
    assert "4 scopes unchanged" in again.stdout
    assert "nothing to do" in again.stderr


def test_a_hand_edit_is_still_repaired(kpictl, db_url, parsed, db_snapshot) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)["kpi_reference_ranges"]
    execute(
        db_url,
        "UPDATE kpi_reference_ranges SET risk_max = 4 "
        "WHERE customer_id IS NULL AND kpi_name = 'error_rate_pct'",
    )
    parsed.clear()
    result = kpictl("seed", "--all")
    assert parsed == ["defaults.yaml"]  # only the scope whose rows no longer match
    assert "~ error_rate_pct: risk_max: 4 -> 5" in result.stdout
    assert "3 scopes unchanged" in result.stdout
    after = db_snapshot(db_url)["kpi_reference_ranges"]

    # the same rows and values again (updated_at aside)
    def values(rows):  # type: ignore[no-untyped-def]
        return sorted(r[:11] for r in rows)

    assert values(after) == values(before)


def test_a_catalog_change_makes_every_file_parsed_again(kpictl, ranges_dir, parsed) -> None:
    kpictl("seed", "--all")
    catalog = ranges_dir / "kpis.yaml"
    catalog.write_text(catalog.read_text() + "# reviewed\n")
    parsed.clear()
    kpictl("seed", "--all")
    assert len(parsed) == 4


def test_a_changed_file_alone_is_parsed(kpictl, ranges_dir, parsed) -> None:
    kpictl("seed", "--all")
    path = ranges_dir / "customers" / "globex.yaml"
    path.write_text(path.read_text() + "# a comment\n")
    parsed.clear()
    kpictl("seed", "--all")
    assert parsed == ["globex.yaml"]
