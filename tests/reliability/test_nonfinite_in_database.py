"""A bound edited by hand to infinity (or NaN) in the database: kpictl reports the drift
and repairs it with a plain seed, on both backends (issue 14 §3: every later seed used
to crash on SQLite, even with --force or --prune)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url


def _set_bound(db_url: str, literal: str) -> None:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    f"UPDATE kpi_reference_ranges SET healthy_max = {literal} "
                    "WHERE customer_id IS NULL AND kpi_name = 'error_rate_pct'"
                )
            )
    finally:
        engine.dispose()


def _literals(db_url: str) -> list[str]:
    if db_url.startswith("sqlite"):
        return ["9e999"]  # SQLite has no NaN: it stores NULL for it
    return ["'Infinity'::float8", "'NaN'::float8"]


@pytest.mark.parametrize("flags", [(), ("--force",), ("--prune",)])
def test_seed_repairs_a_non_finite_bound_edited_by_hand(kpictl, db_url, flags) -> None:
    kpictl("seed", "--all")
    for literal in _literals(db_url):
        _set_bound(db_url, literal)
        drift = kpictl("diff", expect=1)
        assert "healthy_max" in drift.stdout and "error_rate_pct" in drift.stdout
        result = kpictl("seed", "--all", *flags)
        assert "unexpected" not in result.output
        assert "error_rate_pct" in result.stdout
        kpictl("diff")  # exit 0: repaired
        listed = kpictl("list", "--defaults", "--kpi", "error_rate_pct", "-o", "json")
        assert '"healthy_max": 1' in listed.stdout
