"""kpictl list and kpictl customers, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import yaml


def listed(kpictl, *args: str) -> list[dict]:
    return json.loads(kpictl("list", *args, "-o", "json").stdout)


def test_a_customer_without_overrides_sees_exactly_the_defaults(kpictl) -> None:
    kpictl("seed", "--all")
    defaults = listed(kpictl, "--defaults")
    globex = listed(kpictl, "--customer", "globex")
    assert len(globex) == 10
    assert {r["source"] for r in globex} == {"default"}
    assert globex == defaults


def test_effective_ranges_mix_own_rows_and_defaults(load_ranges, kpictl, ranges_dir) -> None:
    kpictl("seed", "--all")
    rows = {r["kpi_name"]: r for r in listed(kpictl, "--customer", "acme")}
    assert len(rows) == 10
    own = {k for k, r in rows.items() if r["source"] == "customer"}
    assert own == {"daily_invocations", "error_rate_pct"}
    assert all(rows[k]["customer"] == "acme" for k in own)
    assert all(r["customer"] is None for k, r in rows.items() if k not in own)
    files = load_ranges(ranges_dir)
    expected = files.customers["acme"].ranges["error_rate_pct"].row()
    assert {k: rows["error_rate_pct"][k] for k in expected} == expected


def test_no_customer_ever_sees_another_customers_row(kpictl) -> None:
    kpictl("seed", "--all")
    for slug in ("data-center", "acme", "globex"):
        rows = listed(kpictl, "--customer", slug)
        assert {r["customer"] for r in rows} <= {slug, None}
        assert len({r["kpi_name"] for r in rows}) == len(rows) == 10


def test_data_center_effective_ranges_are_all_its_own(kpictl) -> None:
    kpictl("seed", "--all")
    rows = listed(kpictl, "--customer", "data-center")
    assert {r["source"] for r in rows} == {"customer"}
    daily = next(r for r in rows if r["kpi_name"] == "daily_invocations")
    assert daily["critical_max"] == 956


def test_defaults_missing_from_the_database_come_from_the_file(kpictl) -> None:
    kpictl("seed", "--customer", "acme")
    rows = listed(kpictl, "--customer", "acme")
    assert {r["source"] for r in rows} == {"customer", "file"}
    assert len(rows) == 10


def test_own_and_kpi_filters(kpictl) -> None:
    kpictl("seed", "--all")
    own = listed(kpictl, "--customer", "acme", "--own")
    assert {r["kpi_name"] for r in own} == {"daily_invocations", "error_rate_pct"}
    one = listed(kpictl, "--customer", "acme", "--kpi", "p95_latency_ms")
    assert [(r["kpi_name"], r["source"]) for r in one] == [("p95_latency_ms", "default")]
    everything = listed(kpictl)
    assert len(everything) == 22


def test_list_outputs_table_yaml_csv(kpictl) -> None:
    kpictl("seed", "--all")
    table = kpictl("list", "--customer", "data-center").stdout
    assert "daily_invocations" in table and "< 956" in table
    as_yaml = yaml.safe_load(kpictl("list", "--defaults", "-o", "yaml").stdout)
    assert len(as_yaml) == 10
    rows = list(csv.DictReader(io.StringIO(kpictl("list", "--defaults", "-o", "csv").stdout)))
    assert len(rows) == 10 and "healthy_min" in rows[0]


def test_unknown_customer_or_kpi_is_exit_2(kpictl) -> None:
    kpictl("seed", "--all")
    result = kpictl("list", "--customer", "nobody", expect=2)
    assert "error: unknown customer 'nobody'" in result.stderr
    result = kpictl("list", "--kpi", "no_such_kpi", expect=2)
    assert "error: unknown KPI 'no_such_kpi'" in result.stderr


def test_customers_add_list_remove(kpictl, db_url, db_snapshot) -> None:
    kpictl("seed", "--all")
    kpictl("customers", "add", "initech", "--name", "Initech")
    rows = json.loads(kpictl("customers", "list", "-o", "json").stdout)
    assert {r["slug"]: r["own_ranges"] for r in rows} == {
        "acme": 2,
        "data-center": 10,
        "globex": 0,
        "initech": 0,
    }
    # a new customer sees the defaults
    assert {r["source"] for r in listed(kpictl, "--customer", "initech")} == {"default"}
    assert "already exists" in kpictl("customers", "add", "initech", "--name", "X", expect=2).stderr
    assert (
        "invalid customer slug"
        in kpictl("customers", "add", "Bad_Slug", "--name", "X", expect=2).stderr
    )

    before = db_snapshot(db_url)
    refused = kpictl("customers", "remove", "acme", expect=2)
    assert "without --yes" in refused.stderr
    assert db_snapshot(db_url) == before

    kpictl("customers", "remove", "acme", "--yes")
    after = db_snapshot(db_url)
    assert not any(
        r
        for r in after["kpi_reference_ranges"]
        if r[1] is not None and r[1] not in {row[0] for row in after["customers"]}
    )
    assert len(after["kpi_reference_ranges"]) == 20  # acme's two rows went with it
    assert "unknown customer" in kpictl("customers", "remove", "acme", "--yes", expect=2).stderr
