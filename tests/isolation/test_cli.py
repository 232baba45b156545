"""kpictl verify-isolation on the command line: exit codes, JSON, tables, JUnit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import yaml
from sqlalchemy import text

from tests.helpers.db import customer_ids, drop_uq_customer_kpi_name, insert_range, raw

CHECK_NAMES = [
    "unique_customer_kpi",
    "unique_default_kpi",
    "no_orphan_rows",
    "schema_constraints",
    "effective_one_per_kpi",
    "no_foreign_rows",
    "row_level_security",
]


def test_a_clean_database_passes_with_exit_0_and_a_table(kpictl, seeded, db_url) -> None:
    result = kpictl("verify-isolation")
    for name in CHECK_NAMES:
        assert name in result.stdout
    assert "failed" not in result.stdout
    if db_url.startswith("postgresql"):
        assert result.stdout.count("passed") == 7
        assert "7 checks: 7 passed; isolation holds" in result.stderr
    else:
        assert result.stdout.count("passed") == 6
        assert "row_level_security      skipped" in result.stdout
        assert "SQLite has no roles and no row-level security" in result.stdout
        assert "7 checks: 6 passed, 1 not applicable on sqlite; isolation holds" in result.stderr


def test_json_has_the_spec_shape(kpictl, seeded, db_url) -> None:
    data = json.loads(kpictl("verify-isolation", "-o", "json").stdout)
    assert data["ok"] is True
    assert [c["name"] for c in data["checks"]] == CHECK_NAMES
    for check in data["checks"]:
        assert {"name", "ok", "violations"} <= set(check)
        assert check["ok"] is True and check["violations"] == []
    rls = data["checks"][-1]
    if db_url.startswith("postgresql"):
        assert rls["status"] == "passed" and "skipped" not in rls
    else:
        # not applicable is not a pass: "ok" stays true (nothing failed), and the
        # check says it was skipped and why
        assert rls["status"] == "skipped" and rls["skipped"] is True
        assert "SQLite" in rls["reason"]


def test_a_failed_check_is_exit_1_with_its_violations(kpictl, seeded, db_url) -> None:
    drop_constraint_and_duplicate(db_url, "data-center", "p95_latency_ms")
    result = kpictl("verify-isolation", "-o", "json", expect=1)
    data = json.loads(result.stdout)
    assert data["ok"] is False
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["unique_customer_kpi"]["ok"] is False
    assert by_name["unique_customer_kpi"]["status"] == "failed"
    (violation,) = by_name["unique_customer_kpi"]["violations"]
    assert violation["customer"] == "data-center"
    assert violation["kpi_name"] == "p95_latency_ms"
    assert violation["table"] == "kpi_reference_ranges"
    assert len(violation["row_ids"]) == 2
    assert "isolation is NOT proven" in result.stderr

    table = kpictl("verify-isolation", expect=1)
    assert "unique_customer_kpi     failed" in table.stdout
    assert "has 2 rows for KPI p95_latency_ms" in table.stdout


def test_customer_narrows_the_per_customer_checks(kpictl, seeded, db_url) -> None:
    drop_constraint_and_duplicate(db_url, "data-center", "p95_latency_ms")
    narrowed = kpictl("verify-isolation", "--customer", "acme", "-o", "json", expect=1)
    data = json.loads(narrowed.stdout)
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["unique_customer_kpi"]["ok"] is True
    assert by_name["schema_constraints"]["ok"] is False  # the schema is always checked
    assert data["customers"] == ["acme"]
    kpictl("verify-isolation", "-c", "acme", "-c", "data-center", expect=1)


def test_an_unknown_customer_is_exit_2(kpictl, seeded) -> None:
    result = kpictl("verify-isolation", "--customer", "nobody", expect=2)
    assert "error: unknown customer 'nobody'" in result.stderr


def test_junit_has_one_testcase_per_check(kpictl, seeded, tmp_path, db_url) -> None:
    path = tmp_path / "isolation.xml"
    kpictl("verify-isolation", "--junit", str(path))
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == CHECK_NAMES
    assert all(c.get("classname") == "kpictl.verify_isolation" for c in cases)
    assert suite.get("tests") == "7" and suite.get("failures") == "0"
    assert list(root.iter("failure")) == []
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    if db_url.startswith("postgresql"):
        assert skipped == [] and suite.get("skipped") == "0"
    else:
        assert skipped == ["row_level_security"] and suite.get("skipped") == "1"


def test_junit_reports_a_failure(kpictl, seeded, tmp_path, db_url) -> None:
    with raw(db_url) as conn:
        conn.execute(text("DROP INDEX idx_ref_range_customer_kpi"))
    path = tmp_path / "isolation.xml"
    kpictl("verify-isolation", "--junit", str(path), expect=1)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failing = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == ["schema_constraints"]
    failure = failing[0].find("failure")
    assert failure is not None
    assert "idx_ref_range_customer_kpi" in (failure.text or "")


def test_junit_to_an_unwritable_place_is_exit_2(kpictl, seeded, tmp_path) -> None:
    result = kpictl("verify-isolation", "--junit", str(tmp_path / "no" / "x.xml"), expect=2)
    assert "cannot write the JUnit report" in result.stderr
    assert "Traceback" not in result.output


def test_yaml_and_csv(kpictl, seeded) -> None:
    data = yaml.safe_load(kpictl("verify-isolation", "-o", "yaml").stdout)
    assert data["ok"] is True and len(data["checks"]) == 7
    lines = kpictl("verify-isolation", "-o", "csv").stdout.splitlines()
    assert lines[0] == "name,ok,status,violations,reason"
    assert len(lines) == 8


def test_help_shows_an_example(kpictl) -> None:
    result = kpictl("verify-isolation", "--help")
    assert "Example:" in result.stdout and "--junit" in result.stdout


def drop_constraint_and_duplicate(db_url: str, slug: str, kpi: str) -> None:
    drop_uq_customer_kpi_name(db_url)
    with raw(db_url) as conn:
        insert_range(conn, customer_ids(db_url)[slug], kpi)


def test_the_isolation_core_imports_neither_typer_nor_rich() -> None:
    import subprocess
    import sys

    code = (
        "import sys, kpictl.isolation, kpictl.db.tenant\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
