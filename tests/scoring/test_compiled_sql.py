"""The compiled-SQL twin of ``compile_row``: on PostgreSQL ``score --all`` has the
database compile each own range row into the float8[] that the band classifier reads
(``kpictl.scoring.inputs.compiled_sql``). For every shape a row can have (each band
absent, open below, open above, closed, "any"), the database's array must be
``compile_row`` of the row, NaN for NaN and infinity for infinity."""

from __future__ import annotations

import itertools
import math

import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.pool import NullPool

from kpictl import api
from kpictl.db.engine import driver_url
from kpictl.db.schema import kpi_reference_ranges as R
from kpictl.scoring.bands import compile_row
from kpictl.scoring.inputs import compiled_sql
from kpictl.settings import Settings

BOUNDS = [None, -5.0, 0.0, 2.5]
WEIGHTS = [0.0, 1.0, 2.5, 1e308]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.postgres
def test_the_database_compiles_every_row_as_compile_row(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the compiled-SQL path runs on PostgreSQL only")
    api.init(Settings(database_url=db_url))
    bands = list(itertools.product(BOUNDS, BOUNDS))
    rows = []
    for i, (critical, risk, healthy) in enumerate(itertools.product(bands, repeat=3)):
        rows.append(
            {
                "customer_id": None,
                "kpi_name": f"k{i}",
                "critical_min": critical[0],
                "critical_max": critical[1],
                "risk_min": risk[0],
                "risk_max": risk[1],
                "healthy_min": healthy[0],
                "healthy_max": healthy[1],
                "weight": WEIGHTS[i % len(WEIGHTS)],
            }
        )
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(insert(R), rows)
            got = {
                name: compiled
                for name, compiled in conn.execute(select(R.c.kpi_name, compiled_sql()))
            }
    finally:
        engine.dispose()
    assert len(got) == len(rows) == len(bands) ** 3
    for row in rows:
        expected = compile_row(
            row["critical_min"],
            row["critical_max"],
            row["risk_min"],
            row["risk_max"],
            row["healthy_min"],
            row["healthy_max"],
            row["weight"],
        )
        compiled = got[row["kpi_name"]]
        assert len(compiled) == len(expected)
        assert all(_same(float(a), b) for a, b in zip(compiled, expected, strict=True)), (
            row,
            compiled,
            expected,
        )
