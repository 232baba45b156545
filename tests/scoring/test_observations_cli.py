"""kpictl observations import and list, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "observations.csv"
HEADER = "customer,kpi_name,value,observed_at\n"


def query(db_url: str, sql: str) -> list[tuple]:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_the_shipped_samples_import(kpictl, db_url) -> None:
    kpictl("seed", "--all")
    result = kpictl("observations", "import", str(SAMPLES))
    assert "108 inserted, 0 replaced, 0 unchanged" in result.stderr
    assert query(db_url, "SELECT count(*) FROM kpi_observations") == [(108,)]
    counts = query(
        db_url,
        "SELECT c.slug, count(*) FROM kpi_observations o JOIN customers c USING (customer_id) "
        "GROUP BY c.slug ORDER BY c.slug",
    )
    assert counts == [("acme", 36), ("data-center", 36), ("globex", 36)]
    again = kpictl("observations", "import", str(SAMPLES))
    assert "0 inserted, 0 replaced, 108 unchanged" in again.stderr
    assert query(db_url, "SELECT count(*) FROM kpi_observations") == [(108,)]


def test_a_repeated_customer_kpi_time_replaces_the_value(kpictl, db_url, tmp_path) -> None:
    kpictl("seed", "--all")
    first = tmp_path / "first.csv"
    first.write_text(
        HEADER + "acme,error_rate_pct,0.4,2026-11-27T06:00:00Z\n"
        "acme,error_rate_pct,0.5,2026-11-28T06:00:00Z\n"
    )
    kpictl("observations", "import", str(first))
    second = tmp_path / "second.csv"
    second.write_text(
        HEADER
        # the same instant written with an offset: replaces 0.4
        + "acme,error_rate_pct,0.9,2026-11-27T08:00:00+02:00\n"
        + "acme,error_rate_pct,0.5,2026-11-28T06:00:00\n"  # same value, no zone: unchanged
        + "acme,error_rate_pct,1.0,2026-11-29T06:00:00Z\n"  # new
        + "acme,error_rate_pct,1.2,2026-11-29T06:00:00Z\n"  # same key again: the last line wins
    )
    result = kpictl("observations", "import", str(second), "-o", "json")
    assert json.loads(result.stdout) == {
        "source": str(second),
        "rows": 4,
        "inserted": 1,
        "replaced": 2,
        "unchanged": 1,
    }
    listed = json.loads(kpictl("observations", "list", "--customer", "acme", "-o", "json").stdout)
    assert [(r["observed_at"], r["value"]) for r in listed] == [
        ("2026-11-27T06:00:00Z", 0.9),
        ("2026-11-28T06:00:00Z", 0.5),
        ("2026-11-29T06:00:00Z", 1.2),
    ]
    assert set(listed[0]) == {"customer", "kpi_name", "observed_at", "value"}


def test_a_csv_with_a_bad_line_writes_nothing(kpictl, db_url, db_snapshot, tmp_path) -> None:
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    before = db_snapshot(db_url)
    bad = tmp_path / "bad.csv"
    good_lines = "".join(
        f"acme,daily_invocations,{700 + i},2026-11-28T{i:02d}:00:00Z\n" for i in range(20)
    )
    bad.write_text(HEADER + good_lines + "acme,error_rate_pct,1.5%,2026-11-28T06:00:00Z\n")
    result = kpictl("observations", "import", str(bad), expect=2)
    assert f"error: {bad}:22 column value: '1.5%' is not a number" in result.stderr
    assert "nothing was written" in result.stderr
    assert "Traceback" not in result.output
    assert db_snapshot(db_url) == before


def test_unknown_customer_kpi_and_bad_time_are_exit_2(kpictl, db_url, db_snapshot) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    cases = {
        "nobody,error_rate_pct,1,2026-11-28": "column customer: unknown customer 'nobody'",
        "acme,error_rate,1,2026-11-28": "column kpi_name: unknown KPI 'error_rate'",
        "acme,error_rate_pct,1,28.11.2026": "column observed_at: '28.11.2026' is not an ISO",
        "acme,error_rate_pct,NaN,2026-11-28": "column value: 'NaN' is not a number",
    }
    for line, message in cases.items():
        result = kpictl("observations", "import", "-", input=HEADER + line + "\n", expect=2)
        assert f"error: <stdin>:2 {message}" in result.stderr
    result = kpictl("observations", "import", "-", input="kpi_name,value\n", expect=2)
    assert "<stdin>:1: bad header (missing customer, observed_at)" in result.stderr
    assert db_snapshot(db_url) == before


def test_import_from_stdin(kpictl, db_url) -> None:
    kpictl("seed", "--all")
    result = kpictl("observations", "import", "-", input=SAMPLES.read_text())
    assert "imported 108 observation(s) from <stdin>" in result.stderr


def test_a_missing_file_is_exit_2(kpictl, tmp_path) -> None:
    result = kpictl("observations", "import", str(tmp_path / "nope.csv"), expect=2)
    assert "No such file" in result.stderr


def test_list_filters_by_kpi_and_refuses_unknown_names(kpictl) -> None:
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    table = kpictl("observations", "list", "--customer", "globex", "--kpi", "p95_latency_ms")
    assert "2026-11-27T06:00:00Z   1620" in table.stdout
    assert "error_rate_pct" not in table.stdout
    assert (
        "unknown customer 'nobody'"
        in kpictl("observations", "list", "--customer", "nobody", expect=2).stderr
    )
    assert (
        "unknown KPI 'p95'"
        in kpictl("observations", "list", "--customer", "acme", "--kpi", "p95", expect=2).stderr
    )
