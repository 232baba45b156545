"""kpictl seed, on SQLite and PostgreSQL: plans, idempotence, atomicity, version rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url


def query(db_url: str, sql: str, **params):
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def edit(path: Path, old: str, new: str, *, count: int = 1) -> None:
    content = path.read_text()
    assert old in content, f"{old!r} not in {path}"
    path.write_text(content.replace(old, new, count))


def bump(path: Path) -> None:
    content = path.read_text()
    version = int(re.search(r"^version: (\d+)", content, re.M).group(1))
    path.write_text(re.sub(r"^version: \d+", f"version: {version + 1}", content, flags=re.M))


def test_seed_all_applies_the_files_and_the_runbook_queries_work(kpictl, db_url) -> None:
    result = kpictl("seed", "--all")
    assert "+ daily_invocations" in result.stdout
    assert "+ create customer data-center (Data Center)" in result.stdout
    assert "applied:" in result.stderr

    (dc_id,) = query(db_url, "SELECT customer_id FROM customers WHERE slug = 'data-center'")[0]
    dc_rows = query(
        db_url,
        "SELECT kpi_name, critical_min, critical_max, risk_min, risk_max, healthy_min, "
        f"healthy_max FROM kpi_reference_ranges WHERE customer_id = {dc_id};",
    )
    by_kpi = {r[0]: r[1:] for r in dc_rows}
    assert len(by_kpi) == 10
    assert by_kpi["daily_invocations"][:2] == (None, 956)
    assert by_kpi["invocation_velocity_change_pct"][:2] == (None, -15)
    assert by_kpi["days_since_last_invocation"][:2] == (8, None)

    overrides = query(
        db_url,
        "SELECT customer_id, kpi_name, critical_min, critical_max FROM kpi_reference_ranges "
        "WHERE customer_id IS NOT NULL ORDER BY customer_id, kpi_name;",
    )
    assert len(overrides) == 12  # data-center's ten and acme's two
    defaults = query(
        db_url,
        "SELECT kpi_name, critical_min, critical_max FROM kpi_reference_ranges "
        "WHERE customer_id IS NULL;",
    )
    assert len(defaults) == 10

    revisions = query(
        db_url, "SELECT scope, version, adds, changes, removes, applied_by FROM range_revisions"
    )
    assert sorted(r[0] or "" for r in revisions) == ["", "acme", "data-center", "globex"]
    assert all(r[3] == r[4] == 0 for r in revisions)


def test_seeding_twice_writes_nothing_the_second_time(kpictl, db_url, db_snapshot) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    again = kpictl("seed", "--all")
    assert "nothing to do" in again.stderr
    assert "Plan: 0 to add, 0 to change, 0 to remove." in again.stdout
    assert db_snapshot(db_url) == before


def test_dry_run_writes_nothing(kpictl, db_url, db_snapshot) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    result = kpictl("seed", "--all", "--dry-run")
    assert "+ daily_invocations" in result.stdout
    assert "dry run" in result.stderr
    assert db_snapshot(db_url) == before


def test_a_failing_file_among_several_applies_nothing(kpictl, ranges_dir, db_url, db_snapshot):
    kpictl("init")
    before = db_snapshot(db_url)
    edit(ranges_dir / "customers" / "acme.yaml", "version: 1", "version: 1\nbogus: 1")
    result = kpictl("seed", "--all", expect=2)
    assert re.search(r"error: \S*customers/acme\.yaml:\d+ bogus: ", result.stderr), result.stderr
    assert "nothing was applied" in result.stderr
    assert "Traceback" not in result.output
    assert db_snapshot(db_url) == before


def test_a_changed_bound_shows_old_and_new_and_is_applied(kpictl, ranges_dir, db_url) -> None:
    kpictl("seed", "--all")
    path = ranges_dir / "customers" / "data-center.yaml"
    edit(path, "critical: {max: 956}", "critical: {max: 900}")
    edit(path, "risk: {min: 956,", "risk: {min: 900,")
    bump(path)
    result = kpictl("seed", "--customer", "data-center")
    assert "~ daily_invocations: critical_max: 956 -> 900, risk_min: 956 -> 900" in result.stdout
    assert query(
        db_url,
        "SELECT r.critical_max FROM kpi_reference_ranges r JOIN customers c "
        "USING (customer_id) WHERE c.slug = 'data-center' AND r.kpi_name = 'daily_invocations'",
    ) == [(900,)]
    versions = query(
        db_url,
        "SELECT version, changes FROM range_revisions WHERE scope = 'data-center' "
        "ORDER BY revision_id",
    )
    assert versions == [(1, 0), (2, 1)]


def test_changed_content_without_a_version_bump_is_refused(
    kpictl, ranges_dir, db_url, db_snapshot
) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    path = ranges_dir / "customers" / "acme.yaml"
    edit(path, "weight: 2", "weight: 3")
    result = kpictl("seed", "--all", expect=1)
    assert "equals the recorded version" in result.stderr
    assert db_snapshot(db_url) == before
    kpictl("seed", "--all", "--force")
    assert query(
        db_url,
        "SELECT r.weight FROM kpi_reference_ranges r JOIN customers c USING (customer_id) "
        "WHERE c.slug = 'acme' AND r.kpi_name = 'daily_invocations'",
    ) == [(3,)]


def test_a_version_below_the_recorded_one_is_refused(kpictl, ranges_dir, db_url, db_snapshot):
    path = ranges_dir / "customers" / "globex.yaml"
    bump(path)
    kpictl("seed", "--customer", "globex")
    edit(path, "version: 2", "version: 1")
    before = db_snapshot(db_url)
    result = kpictl("seed", "--customer", "globex", expect=1)
    assert "version 1 is below the recorded version 2" in result.stderr
    assert db_snapshot(db_url) == before
    # --dry-run shows the refusal but exits 0
    assert "refused" in kpictl("seed", "--customer", "globex", "--dry-run").stdout


def test_comment_only_changes_need_no_version_bump(kpictl, ranges_dir, db_url, db_snapshot):
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    path = ranges_dir / "defaults.yaml"
    path.write_text("# a comment added in review\n" + path.read_text())
    kpictl("seed", "--all")
    assert db_snapshot(db_url) == before


def test_rows_missing_from_a_file_are_kept_unless_pruned(kpictl, ranges_dir, db_url) -> None:
    kpictl("seed", "--all")
    path = ranges_dir / "customers" / "acme.yaml"
    content = path.read_text()
    # drop acme's error_rate_pct override: from its key to the end of the file
    head, _sep, _tail = content.partition("  error_rate_pct:")
    path.write_text(head)
    bump(path)
    kept = kpictl("seed", "--customer", "acme")
    assert "= error_rate_pct: kept" in kept.stdout
    own = (
        "SELECT r.kpi_name FROM kpi_reference_ranges r JOIN customers c USING (customer_id) "
        "WHERE c.slug = 'acme' ORDER BY 1"
    )
    assert query(db_url, own) == [("daily_invocations",), ("error_rate_pct",)]
    pruned = kpictl("seed", "--customer", "acme", "--prune")
    assert "- error_rate_pct" in pruned.stdout
    assert query(db_url, own) == [("daily_invocations",)]
    assert query(
        db_url,
        "SELECT removes FROM range_revisions WHERE scope = 'acme' "
        "ORDER BY revision_id DESC LIMIT 1",
    ) == [(1,)]


def test_seed_json_output_has_the_diff_shape(kpictl) -> None:
    result = kpictl("seed", "--customer", "acme", "-o", "json")
    data = json.loads(result.stdout)
    assert data["applied"] is True
    actions = {(c["scope"], c["kpi_name"], c["action"]) for c in data["changes"]}
    assert actions == {("acme", "daily_invocations", "add"), ("acme", "error_rate_pct", "add")}
    change = next(c for c in data["changes"] if c["kpi_name"] == "daily_invocations")
    assert all(set(v) == {"old", "new"} for v in change["fields"].values())


def test_a_customer_without_a_file_is_a_usage_error(kpictl, db_url, db_snapshot) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    result = kpictl("seed", "--customer", "nobody", expect=2)
    assert "error:" in result.stderr and "nobody.yaml" in result.stderr
    assert db_snapshot(db_url) == before


def test_seed_needs_a_selection(kpictl) -> None:
    result = kpictl("seed", expect=2)
    assert "--customer SLUG, --defaults or --all" in result.stderr


def test_seed_defaults_only(kpictl, db_url) -> None:
    kpictl("seed", "--defaults")
    assert query(db_url, "SELECT count(*) FROM kpi_reference_ranges WHERE customer_id IS NULL") == [
        (10,)
    ]
    assert query(db_url, "SELECT count(*) FROM customers") == [(0,)]
