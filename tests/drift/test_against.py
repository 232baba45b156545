"""kpictl diff --customer A --against B|defaults: effective ranges of two scopes."""

from __future__ import annotations

import json

import pytest


def test_acme_against_defaults_lists_exactly_its_overrides(kpictl) -> None:
    kpictl("seed", "--all")
    result = kpictl("diff", "--customer", "acme", "--against", "defaults", "-o", "json", expect=1)
    data = json.loads(result.stdout)
    assert (data["left"], data["right"], data["differs"]) == ("acme", None, True)
    assert [k["kpi_name"] for k in data["kpis"]] == ["daily_invocations", "error_rate_pct"]
    assert [(c["kpi_name"], c["action"]) for c in data["changes"]] == [
        ("daily_invocations", "change"),
        ("error_rate_pct", "change"),
    ]
    daily = data["kpis"][0]
    assert (daily["left"]["source"], daily["right"]["source"]) == ("customer", "default")
    assert daily["fields"] == {
        "critical_max": {"old": 100, "new": 500},
        "risk_min": {"old": 100, "new": 500},
        "risk_max": {"old": 500, "new": 2000},
        "healthy_min": {"old": 500, "new": 2000},
    }
    error_rate = data["kpis"][1]["fields"]
    assert set(error_rate) == {"critical_min", "risk_min", "risk_max", "healthy_max"}

    table = kpictl("diff", "--customer", "acme", "--against", "defaults", expect=1).stdout
    assert "effective ranges of acme against defaults: 2 KPIs differ" in table
    rows = [line.split() for line in table.splitlines()[1:]]
    assert lines_with(rows, "acme")[0][:5] == ["daily_invocations", "acme", "customer", "<", "100"]
    assert lines_with(rows, "defaults")[0][:4] == ["defaults", "default", "<", "500"]
    assert not any("p95_latency_ms" in line for line in table.splitlines())


def lines_with(lines: list[list[str]], word: str) -> list[list[str]]:
    return [line for line in lines if word in line]


def test_a_customer_without_overrides_is_the_defaults(kpictl) -> None:
    kpictl("seed", "--all")
    result = kpictl("diff", "--customer", "globex", "--against", "defaults")
    assert "No differences: globex and defaults have the same effective ranges." in result.stdout
    data = json.loads(
        kpictl("diff", "--customer", "globex", "--against", "defaults", "-o", "json").stdout
    )
    assert data == {"left": "globex", "right": None, "differs": False, "changes": [], "kpis": []}


def test_two_customers(kpictl) -> None:
    kpictl("seed", "--all")
    data = json.loads(
        kpictl("diff", "-c", "acme", "--against", "globex", "-o", "json", expect=1).stdout
    )
    assert [k["kpi_name"] for k in data["kpis"]] == ["daily_invocations", "error_rate_pct"]
    assert {k["right"]["source"] for k in data["kpis"]} == {"default"}
    # data-center overrides every KPI; only the ones whose values differ from acme's are listed
    data = json.loads(
        kpictl("diff", "-c", "acme", "--against", "data-center", "-o", "json", expect=1).stdout
    )
    names = [k["kpi_name"] for k in data["kpis"]]
    assert "health_score" not in names  # same bands in both (data-center's equal the defaults)
    assert "daily_invocations" in names and "p95_latency_ms" in names


def test_defaults_not_seeded_come_from_the_file(kpictl) -> None:
    kpictl("seed", "--customer", "acme")
    data = json.loads(
        kpictl("diff", "-c", "acme", "--against", "defaults", "-o", "json", expect=1).stdout
    )
    assert [k["kpi_name"] for k in data["kpis"]] == ["daily_invocations", "error_rate_pct"]
    assert {k["right"]["source"] for k in data["kpis"]} == {"file"}


def test_a_kpi_on_one_side_only(kpictl, sql) -> None:
    kpictl("seed", "--all")
    sql("DELETE FROM kpi_reference_ranges WHERE customer_id IS NULL AND kpi_name = 'health_score'")
    sql(
        "DELETE FROM kpi_reference_ranges WHERE kpi_name = 'health_score' AND customer_id = "
        "(SELECT customer_id FROM customers WHERE slug = 'data-center')"
    )
    data = json.loads(
        kpictl("diff", "-c", "acme", "--against", "data-center", "-o", "json", expect=1).stdout
    )
    # the defaults file still provides health_score to both: no difference there
    assert "health_score" not in [k["kpi_name"] for k in data["kpis"]]


@pytest.mark.parametrize(
    "args",
    [
        ["--against", "defaults"],
        ["-c", "acme", "-c", "globex", "--against", "defaults"],
        ["-c", "acme", "--defaults", "--against", "globex"],
        ["-c", "acme", "--all", "--against", "globex"],
    ],
)
def test_against_needs_exactly_one_customer(kpictl, args: list[str]) -> None:
    result = kpictl("diff", *args, expect=2)
    assert result.stderr.startswith("error: --against needs exactly one --customer")


def test_unknown_customers_are_exit_2(kpictl) -> None:
    kpictl("seed", "--all")
    result = kpictl("diff", "-c", "nobody", "--against", "defaults", expect=2)
    assert result.stderr.startswith("error: unknown customer 'nobody'")
    result = kpictl("diff", "-c", "acme", "--against", "nobody", expect=2)
    assert result.stderr.startswith("error: unknown customer 'nobody'")
