"""kpictl diff, files against the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from kpictl.drift import DriftReport
from kpictl.rangefiles.model import RANGE_COLUMNS


def diff_json(kpictl, *args: str, expect: int | None = None) -> dict:
    result = kpictl("diff", *args, "-o", "json", expect=expect)
    return json.loads(result.stdout)


def scope(data: dict, slug: str | None) -> dict:
    return next(s for s in data["scopes"] if s["scope"] == slug)


def test_clean_after_seed(kpictl, db_url, db_snapshot) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    result = kpictl("diff")
    assert "No differences: the database matches the files (4 scopes)." in result.stdout
    data = diff_json(kpictl, "--all", expect=0)
    assert data["changes"] == []
    assert data["differs"] is False
    assert data["customers_without_file"] == []
    assert [(s["scope"], s["file_version"], s["database_version"]) for s in data["scopes"]] == [
        (None, 1, 1),
        ("acme", 1, 1),
        ("data-center", 1, 1),
        ("globex", 1, 1),
    ]
    assert db_snapshot(db_url) == before  # diff writes nothing


def test_before_any_seed_everything_is_to_add(kpictl) -> None:
    kpictl("init")  # a read creates no database (SPEC section 7)
    data = diff_json(kpictl, expect=1)
    assert {c["action"] for c in data["changes"]} == {"add"}
    assert len(data["changes"]) == 22
    assert scope(data, "acme")["customer_exists"] is False
    assert scope(data, None)["database_version"] is None
    table = kpictl("diff", expect=1).stdout
    assert "+ create customer acme (Acme Corp)" in table
    assert "Diff: 4 of 4 scopes differ; 22 to add, 0 to change, 0 to remove." in table


def test_a_changed_bound_is_the_exact_field_change(kpictl, ranges_dir, files) -> None:
    kpictl("seed", "--all")
    path = ranges_dir / "customers" / "data-center.yaml"
    files.edit(path, "critical: {max: 956}", "critical: {max: 900}")
    files.edit(path, "risk: {min: 956,", "risk: {min: 900,")
    files.bump(path)

    data = diff_json(kpictl, expect=1)
    assert data["changes"] == [
        {
            "scope": "data-center",
            "kpi_name": "daily_invocations",
            "action": "change",
            "fields": {
                "critical_max": {"old": 956, "new": 900},
                "risk_min": {"old": 956, "new": 900},
            },
        }
    ]
    dc = scope(data, "data-center")
    assert (dc["file_version"], dc["database_version"], dc["differs"]) == (2, 1, True)
    assert dc["drift"] == []
    assert [s["scope"] for s in data["scopes"] if s["differs"]] == ["data-center"]

    table = kpictl("diff", expect=1).stdout
    assert "customer data-center  (" in table
    assert "customers/data-center.yaml: file v2, database v1)" in table
    assert "~ daily_invocations: critical_max: 956 -> 900, risk_min: 956 -> 900" in table
    assert "customer acme" not in table  # scopes without a difference are not listed
    # the same plan as seed: seeding it makes the diff clean
    kpictl("seed", "--all")
    kpictl("diff", expect=0)


def test_a_hand_update_is_drift(kpictl, sql) -> None:
    kpictl("seed", "--all")
    sql(
        "UPDATE kpi_reference_ranges SET risk_max = 1400, critical_min = 1400 "
        "WHERE customer_id IS NULL AND kpi_name = 'p95_latency_ms'"
    )
    data = diff_json(kpictl, expect=1)
    defaults = scope(data, None)
    assert defaults["drift"] == [
        {
            "kpi_name": "p95_latency_ms",
            "kind": "changed",
            "fields": {
                "critical_min": {"recorded": 1500, "stored": 1400},
                "risk_max": {"recorded": 1500, "stored": 1400},
            },
        }
    ]
    assert defaults["file_version"] == defaults["database_version"] == 1
    assert data["changes"] == [
        {
            "scope": None,
            "kpi_name": "p95_latency_ms",
            "action": "change",
            "fields": {
                "critical_min": {"old": 1400, "new": 1500},
                "risk_max": {"old": 1400, "new": 1500},
            },
        }
    ]
    table = kpictl("diff", expect=1).stdout
    assert (
        "! drift: p95_latency_ms changed in the database since v1 was applied: "
        "critical_min: 1500 -> 1400, risk_max: 1500 -> 1400"
    ) in table
    assert "1 drifted row" in table


def test_hand_deletes_and_inserts_are_drift(kpictl, sql) -> None:
    kpictl("seed", "--all")
    sql(
        "DELETE FROM kpi_reference_ranges WHERE kpi_name = 'error_rate_pct' AND customer_id = "
        "(SELECT customer_id FROM customers WHERE slug = 'acme')"
    )
    sql(
        "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, healthy_max, weight, "
        "updated_at) SELECT customer_id, 'cold_start_pct', 2, 1, CURRENT_TIMESTAMP "
        "FROM customers WHERE slug = 'globex'"
    )
    data = diff_json(kpictl, expect=1)
    assert [(d["kpi_name"], d["kind"]) for d in scope(data, "acme")["drift"]] == [
        ("error_rate_pct", "deleted")
    ]
    assert [(d["kpi_name"], d["kind"]) for d in scope(data, "globex")["drift"]] == [
        ("cold_start_pct", "unrecorded")
    ]
    actions = {(c["scope"], c["kpi_name"], c["action"]) for c in data["changes"]}
    assert actions == {("acme", "error_rate_pct", "add"), ("globex", "cold_start_pct", "remove")}
    table = kpictl("diff", expect=1).stdout
    assert "! drift: error_rate_pct deleted from the database since v1 was applied" in table
    assert "- cold_start_pct (in the database, not in the file)" in table


def test_a_kpi_removed_from_a_file_is_a_removal(kpictl, ranges_dir, files) -> None:
    kpictl("seed", "--all")
    path = ranges_dir / "customers" / "acme.yaml"
    head, _sep, _tail = path.read_text().partition("  error_rate_pct:")
    path.write_text(head)
    files.bump(path)
    data = diff_json(kpictl, "--customer", "acme", expect=1)
    assert data["changes"] == [
        {
            "scope": "acme",
            "kpi_name": "error_rate_pct",
            "action": "remove",
            "fields": {
                "critical_min": {"old": 2, "new": None},
                "risk_min": {"old": 0.5, "new": None},
                "risk_max": {"old": 2, "new": None},
                "healthy_max": {"old": 0.5, "new": None},
                "weight": {"old": 3, "new": None},
                "playbook": {"old": "reliability-review", "new": None},
            },
        }
    ]
    # seed without --prune keeps the row: diff still reports it (and it is not recorded)
    kpictl("seed", "--customer", "acme")
    data = diff_json(kpictl, "--customer", "acme", expect=1)
    assert [(c["kpi_name"], c["action"]) for c in data["changes"]] == [("error_rate_pct", "remove")]
    assert [d["kind"] for d in scope(data, "acme")["drift"]] == ["unrecorded"]
    kpictl("seed", "--customer", "acme", "--prune")
    kpictl("diff", "--customer", "acme", expect=0)


def test_a_version_bump_alone_is_a_difference(kpictl, ranges_dir, files) -> None:
    kpictl("seed", "--all")
    files.bump(ranges_dir / "customers" / "globex.yaml")
    data = diff_json(kpictl, expect=1)
    assert data["changes"] == []
    globex = scope(data, "globex")
    assert (globex["file_version"], globex["database_version"]) == (2, 1)
    assert "~ version: 1 -> 2" in kpictl("diff", expect=1).stdout


def test_changed_content_at_the_same_version_shows_the_refusal(kpictl, ranges_dir, files):
    kpictl("seed", "--all")
    files.edit(ranges_dir / "customers" / "acme.yaml", "weight: 2", "weight: 4")
    data = diff_json(kpictl, expect=1)
    acme = scope(data, "acme")
    assert acme["content_differs"] is True
    assert "equals the recorded version" in acme["refusal"]
    assert "! seed would refuse:" in kpictl("diff", expect=1).stdout


def test_a_scoring_change_is_a_difference(kpictl, ranges_dir, files) -> None:
    kpictl("seed", "--all")
    path = ranges_dir / "customers" / "data-center.yaml"
    files.edit(path, "intercept: 52.14", "intercept: 50")
    files.bump(path)
    data = diff_json(kpictl, expect=1)
    change = scope(data, "data-center")["scoring"]
    assert change["old"]["intercept"] == 52.14 and change["new"]["intercept"] == 50
    assert "~ scoring: " in kpictl("diff", expect=1).stdout


def test_customers_without_a_file(kpictl, db_url, db_snapshot) -> None:
    kpictl("seed", "--all")
    kpictl("customers", "add", "initech", "--name", "Initech")
    data = diff_json(kpictl, expect=1)
    assert data["changes"] == []
    assert data["customers_without_file"] == [
        {"customer": "initech", "name": "Initech", "ranges": 0, "database_version": None}
    ]
    table = kpictl("diff", expect=1).stdout
    assert "customers in the database without a file" in table
    assert "? initech (Initech): 0 ranges, no revision" in table
    assert "1 customer without a file" in table
    # selected by name, it is a difference too; other customers are not reported then
    data = diff_json(kpictl, "--customer", "initech", "--customer", "acme", expect=1)
    assert [c["customer"] for c in data["customers_without_file"]] == ["initech"]
    assert [s["scope"] for s in data["scopes"]] == ["acme"]
    kpictl("diff", "--customer", "acme", expect=0)


def test_a_customer_neither_in_files_nor_database_is_exit_2(kpictl, db_url, db_snapshot):
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    result = kpictl("diff", "--customer", "nobody", expect=2)
    assert result.stderr.startswith("error: unknown customer 'nobody'")
    assert kpictl("diff", "--customer", "Not_A_Slug", expect=2).stderr.startswith("error:")
    assert db_snapshot(db_url) == before


def test_an_invalid_file_is_exit_2(kpictl, ranges_dir, files) -> None:
    kpictl("seed", "--all")
    files.edit(ranges_dir / "customers" / "acme.yaml", "weight: 2", "weight: yes")
    result = kpictl("diff", expect=2)
    assert "acme.yaml" in result.stderr and "weight" in result.stderr
    assert "Traceback" not in result.output


def test_defaults_only(kpictl, sql) -> None:
    kpictl("seed", "--all")
    kpictl("customers", "add", "initech", "--name", "Initech")
    sql("UPDATE kpi_reference_ranges SET weight = 5 WHERE kpi_name = 'health_score'")
    data = diff_json(kpictl, "--defaults", expect=1)
    assert [s["scope"] for s in data["scopes"]] == [None]
    assert data["customers_without_file"] == []  # only with --all
    assert {(c["scope"], c["kpi_name"]) for c in data["changes"]} == {(None, "health_score")}


def test_defaults_in_the_database_without_a_defaults_file(kpictl, ranges_dir) -> None:
    kpictl("seed", "--all")
    (ranges_dir / "defaults.yaml").unlink()
    data = diff_json(kpictl, expect=1)
    assert data["defaults_without_file"] == {
        "customer": None,
        "name": None,
        "ranges": 10,
        "database_version": 1,
    }
    assert (
        "system defaults in the database without a defaults.yaml" in kpictl("diff", expect=1).stdout
    )


def test_an_unreachable_database_is_exit_3(kpictl, tmp_path) -> None:
    from kpictl.cli.app import app  # noqa: F401 - the fixture's runner uses it

    kpictl.db_url = f"sqlite:///{tmp_path}/no/such/dir/kpictl.db"
    result = kpictl("diff", expect=3)
    assert result.stderr.startswith("error: cannot connect to")


def test_the_report_is_one_plan_with_prune(kpictl, ranges_dir, db_url) -> None:
    """diff's changes are exactly seed --prune's plan: one computation, two renderings."""
    from kpictl import api
    from kpictl.db import engine as db
    from kpictl.rangefiles import RangeDir
    from kpictl.seeding import build_plan
    from kpictl.settings import Settings

    kpictl("seed", "--defaults")
    settings = Settings(database_url=db_url, ranges_dir=ranges_dir)
    report = api.diff(settings)
    assert isinstance(report, DriftReport)
    files, _warnings = RangeDir(ranges_dir).load_selection(all=True)
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        plan, _ = build_plan(conn, files, prune=True)
    assert report.plan.changes() == plan.changes()


def test_csv_gives_one_row_per_change(kpictl, sql) -> None:
    """Flat (SPEC §7): the changed columns by name, then each column's old and new value."""
    kpictl("init")  # a read creates no database (SPEC section 7)
    header = "scope,kpi_name,action,fields," + ",".join(
        f"{c}_{side}" for c in RANGE_COLUMNS for side in ("old", "new")
    )
    assert kpictl("diff", "-o", "csv", expect=1).stdout.splitlines()[0] == header
    kpictl("seed", "--all")
    assert kpictl("diff", "-o", "csv").stdout == header + "\n"
    sql("UPDATE kpi_reference_ranges SET weight = 7 WHERE kpi_name = 'health_score'")
    rows = kpictl("diff", "-o", "csv", expect=1).stdout.splitlines()[1:]
    assert rows[0] == ",".join(
        ["", "health_score", "change", "weight", *[""] * 12, "7", "1", "", ""]
    )
    assert len(rows) == 2  # the defaults' row and data-center's
