"""-o csv is always flat: one row per record, scalar cells, a fixed documented header per
command (SPEC §7, issue 13 §3)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from kpictl.render.csvout import CSV_HEADERS

DOC = Path(__file__).resolve().parents[2] / "docs" / "csv.md"
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NUMERIC = re.compile(
    r"^(critical|risk|healthy)_(min|max)(_old|_new)?$|^(weight|value|score|points|term"
    r"|coefficient|own_ranges|version|adds|changes|removes|alerts|line|rows|inserted"
    r"|replaced|unchanged)(_old|_new)?$"
)


def read(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    rows = [dict(zip(header, row, strict=True)) for row in reader]
    return header, rows


def assert_flat(command: str, text: str) -> list[dict[str, str]]:
    header, rows = read(text)
    assert tuple(header) == CSV_HEADERS[command], command
    for row in rows:
        for name, value in row.items():
            assert not value.startswith(("{", "[")), (command, name, value)  # no JSON
            if value and NUMERIC.match(name):
                float(value)  # a number, as written
    return rows


def test_the_documented_headers_are_the_headers() -> None:
    documented = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| `([^`]+)`[^|]*\| [^|]+ \| (`([^`]+)`|as `([^`]+)`.*) \|$", line)
        if m:
            command = m.group(1).split(" (")[0]
            header = m.group(3) or ",".join(CSV_HEADERS[m.group(4)])
            documented[command] = tuple(header.split(","))
    documented["score"] = documented.pop("score SLUG")
    assert documented == CSV_HEADERS


def test_every_command_writes_one_flat_row_per_record(wide) -> None:
    cli = wide
    ranges = json.loads(cli("list", "-o", "json").stdout)
    assert len(assert_flat("list", cli("list", "-o", "csv").stdout)) == len(ranges)

    checks = assert_flat("verify-isolation", cli("verify-isolation", "-o", "csv", expect=1).stdout)
    assert [c["status"] for c in checks].count("failed") == 1
    assert {c["ok"] for c in checks} == {"true", "false"}

    card = json.loads(cli("score", "data-center", "-o", "json").stdout)
    rows = assert_flat("score", cli("score", "data-center", "-o", "csv").stdout)
    assert [r["kpi_name"] for r in rows][: len(card["kpis"])] == [
        k["kpi_name"] for k in card["kpis"]
    ]
    assert {r["status"] for r in rows} == {card["status"]}  # the overall status, every row
    assert {float(r["score"]) for r in rows} == {card["score"]}
    assert [r["kpi_status"] for r in rows][: len(card["kpis"])] == [
        k["status"] for k in card["kpis"]
    ]

    summaries = assert_flat("score --all", cli("score", "--all", "-o", "csv").stdout)
    assert len(summaries) == 4
    assert any(r["reason"] and not r["score"] for r in summaries)  # the long slug: unscored

    assert len(assert_flat("history", cli("history", "-o", "csv").stdout)) == 4
    assert len(assert_flat("customers list", cli("customers", "list", "-o", "csv").stdout)) == 4
    observed = cli("observations", "list", "--customer", "data-center", "-o", "csv").stdout
    assert len(assert_flat("observations list", observed)) > 10
    imported = cli("observations", "import", str(SAMPLES / "observations.csv"), "-o", "csv")
    (row,) = assert_flat("observations import", imported.stdout)
    assert row["unchanged"] == row["rows"]


def test_plans_are_one_row_per_change(wide) -> None:
    cli = wide
    acme = cli.ranges_dir / "customers" / "acme.yaml"
    text = acme.read_text().replace("version: 1", "version: 2")
    acme.write_text(text.replace("weight: 3", "weight: 4").replace("max: 100}", "max: 90}"))
    changes = json.loads(cli("diff", "-o", "json", expect=1).stdout)["changes"]
    rows = assert_flat("diff", cli("diff", "-o", "csv", expect=1).stdout)
    assert len(rows) == len(changes) >= 2
    by_kpi = {r["kpi_name"]: r for r in rows if r["scope"] == "acme"}
    error_rate = by_kpi["error_rate_pct"]
    assert (error_rate["action"], error_rate["fields"]) == ("change", "weight")
    assert (error_rate["weight_old"], error_rate["weight_new"]) == ("3", "4")
    assert error_rate["risk_min_old"] == error_rate["risk_min_new"] == ""  # unchanged

    planned = assert_flat("seed", cli("seed", "--all", "--dry-run", "-o", "csv").stdout)
    assert [(r["scope"], r["kpi_name"], r["fields"]) for r in planned] == [
        (r["scope"], r["kpi_name"], r["fields"]) for r in rows
    ]

    against = cli("diff", "-c", "acme", "--against", "defaults", "-o", "csv", expect=1).stdout
    compared = assert_flat("diff --against", against)
    assert {r["kpi_name"] for r in compared} == {"daily_invocations", "error_rate_pct"}


def test_validate_is_one_row_per_problem(cli) -> None:
    acme = cli.ranges_dir / "customers" / "acme.yaml"
    acme.write_text(
        acme.read_text().replace("max: 100}", "max: 50}").replace("weight: 3", "weight: -1")
    )
    rows = assert_flat("validate", cli("validate", "-o", "csv", expect=1).stdout)
    assert len(rows) >= 2
    assert "error" in {r["severity"] for r in rows} <= {"error", "warning"}
    assert all(r["path"].endswith("acme.yaml") and int(r["line"]) > 0 for r in rows)
    assert any("weight" in r["where"] for r in rows)


@pytest.mark.parametrize("command", sorted(CSV_HEADERS))
def test_every_header_is_scalar_names(command: str) -> None:
    header = CSV_HEADERS[command]
    assert len(set(header)) == len(header)
    assert all(re.fullmatch(r"[a-z_0-9]+", name) for name in header)
