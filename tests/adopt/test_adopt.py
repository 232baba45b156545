"""kpictl adopt on the database the original application created, on SQLite and
PostgreSQL: nothing of the application's is lost or changed, its own queries answer the
same, and from then on every kpictl command works: export --all, validate, diff, seed,
verify-isolation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from kpictl.db.engine import head_revision


def test_the_plan_changes_nothing_and_adopt_yes_keeps_every_row(
    db_url, legacy, cli, helpers, tmp_path
) -> None:
    legacy.create_and_seed(db_url)
    original = legacy.ORIGINAL_COLUMNS
    rows_before = helpers.original_rows(db_url, original)
    columns_before = helpers.column_definitions(db_url, original)
    answers_before = legacy.answers(db_url)
    state_before = helpers.database_state(db_url)
    assert len(rows_before["kpi_reference_ranges"]) == 14

    plan = cli("adopt")
    assert helpers.database_state(db_url) == state_before, "the plan alone changed the database"
    out = plan.stdout
    assert "+ column slug VARCHAR(63) NOT NULL, from --slug-from name" in out
    assert "+ column weight" in out and "+ column playbook" in out
    assert "+ column updated_at" in out and "+ column created_at" in out
    assert "= index idx_ref_range_customer_kpi: kept" in out
    assert "health_scores, kpi_observations, range_revisions" in out
    assert f"alembic_version {head_revision()}" in out
    for cid, slug in ((1, "acme-corp"), (2, "globex"), (6, "data-center")):
        assert re.search(rf"^\s+{cid}\s+.*-> {slug}$", out, re.M), out
    if db_url.startswith("postgresql"):
        assert "~ uq_customer_kpi_name re-created as NULLS NOT DISTINCT" in out
        assert "policy kpictl_tenant_isolation" in out
    else:
        assert "+ partial unique index uq_default_kpi_name" in out
        assert "= uq_customer_kpi_name (customer_id, kpi_name): kept" in out
    assert "nothing was changed: run again with --yes" in plan.stderr
    assert "problems" not in out and "validate' will refuse" not in out

    cli("adopt", "--yes")
    assert helpers.original_rows(db_url, original) == rows_before
    assert helpers.column_definitions(db_url, original) == columns_before
    assert legacy.answers(db_url) == answers_before
    assert answers_before[(6, "daily_invocations")][3:9] == (None, 956, 956, 2000, 2000, None)
    assert answers_before[(2, "error_rate_pct")][1] is None  # falls back to the default

    # kpictl's defaults on the adopted rows; the slugs; the schema version
    stored = helpers.execute(
        db_url,
        "SELECT count(*), min(weight), max(weight), count(playbook), count(updated_at) "
        "FROM kpi_reference_ranges",
    )
    assert tuple(stored[0]) == (14, 1, 1, 0, 14)
    slugs = helpers.execute(db_url, "SELECT customer_id, slug FROM customers ORDER BY 1")
    assert [tuple(r) for r in slugs] == [(1, "acme-corp"), (2, "globex"), (6, "data-center")]
    assert helpers.execute(db_url, "SELECT version_num FROM alembic_version")[0][0] == (
        head_revision()
    )

    # ranges as code in one commit: export, validate, diff
    out_dir = tmp_path / "exported"
    exported = cli("export", "--all", "--output-dir", str(out_dir))
    assert sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.yaml")) == [
        "customers/acme-corp.yaml",
        "customers/data-center.yaml",
        "customers/globex.yaml",
        "defaults.yaml",
        "kpis.yaml",
    ]
    assert "marked '# review:'" in exported.stderr
    catalog = (out_dir / "kpis.yaml").read_text()
    assert "  # review: better: higher read from the stored bands" in catalog
    assert re.search(r"  daily_invocations:\n    unit: unknown\n    better: higher\n", catalog)
    assert re.search(r"  error_rate_pct:\n    unit: unknown\n    better: lower\n", catalog)
    data_center = (out_dir / "customers" / "data-center.yaml").read_text()
    assert "name: Data Center\nversion: 1\n" in data_center
    assert "  daily_invocations:\n    critical: {max: 956}\n" in data_center
    assert (out_dir / "customers" / "globex.yaml").read_text().endswith("ranges: {}\n")
    cli("validate", ranges=out_dir)
    cli("validate", str(out_dir), ranges=out_dir)
    diff = cli("diff", "--all", ranges=out_dir)
    assert "No differences" in diff.stdout
    assert json.loads(cli("diff", "--all", "-o", "json", ranges=out_dir).stdout)["changes"] == []

    isolation = json.loads(cli("verify-isolation", "-o", "json").stdout)
    assert isolation["ok"] is True, isolation
    rls = next(c for c in isolation["checks"] if c["name"] == "row_level_security")
    if db_url.startswith("postgresql"):
        assert rls["ok"] and not rls.get("skipped"), rls

    # a seed of an edited exported file works, and the application sees it
    path = out_dir / "customers" / "data-center.yaml"
    edited = path.read_text().replace("version: 1", "version: 2")
    edited = edited.replace(
        "critical: {max: 956}\n    risk: {min: 956,", "critical: {max: 900}\n    risk: {min: 900,"
    )
    assert edited.count("900") == 2
    path.write_text(edited)
    seeded = cli("seed", "--customer", "data-center", ranges=out_dir)
    assert "critical_max" in seeded.stdout and "956 -> 900" in seeded.stdout
    assert "No differences" in cli("diff", "--all", ranges=out_dir).stdout
    answers_after = legacy.answers(db_url)
    assert answers_after[(6, "daily_invocations")][3:9] == (None, 900, 900, 2000, 2000, None)
    assert {k: v for k, v in answers_after.items() if k != (6, "daily_invocations")} == {
        k: v for k, v in answers_before.items() if k != (6, "daily_invocations")
    }
    cli("verify-isolation")

    # adopted once: adopting again does nothing
    again = cli("adopt", "--yes")
    assert "already managed by kpictl" in again.stderr


def test_a_slug_can_never_be_null_after_adoption(db_url, legacy, cli, helpers) -> None:
    """kpictl's NOT NULL on customers.slug holds (SQLite: by triggers, as its ALTER TABLE
    cannot add NOT NULL to a column)."""
    legacy.create_and_seed(db_url)
    cli("adopt", "--yes")
    with pytest.raises(IntegrityError, match=r"(?i)not.null"):
        helpers.execute(db_url, "INSERT INTO customers (customer_id, name) VALUES (9, 'New')")
    with pytest.raises(IntegrityError, match=r"(?i)not.null"):
        helpers.execute(db_url, "UPDATE customers SET slug = NULL WHERE customer_id = 1")
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"):
        helpers.execute(
            db_url, "INSERT INTO customers (customer_id, name, slug) VALUES (9, 'X', 'globex')"
        )
    helpers.execute(db_url, "INSERT INTO customers (customer_id, name, slug) VALUES (9, 'N', 'n')")
    # two system defaults for one KPI are refused from now on
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"):
        helpers.execute(
            db_url,
            "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, critical_max) "
            "VALUES (NULL, 'error_rate_pct', 1)",
        )


def test_adopt_on_a_database_kpictl_manages_does_nothing(db_url, cli, helpers) -> None:
    cli("init")
    before = helpers.database_state(db_url)
    result = cli("adopt", "--yes")
    assert "already managed by kpictl (schema revision" in result.stderr
    assert result.stdout == ""
    assert helpers.database_state(db_url) == before


def test_adopt_on_an_empty_database_points_to_init(db_url, cli, helpers) -> None:
    result = cli("adopt", "--yes", expect=2)
    assert "error: the database has no tables: there is nothing to adopt" in result.stderr
    assert "hint: use 'kpictl init'" in result.stderr
    assert "Traceback" not in result.output
    assert helpers.database_state(db_url) in ({}, {"_rls": []}, {"_sqlite_master": []})


def test_adopt_without_the_applications_tables_refuses(db_url, cli, helpers) -> None:
    helpers.execute(db_url, "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT)")
    before = helpers.database_state(db_url)
    result = cli("adopt", "--yes", expect=2)
    assert "no kpi_reference_ranges table" in result.stderr
    assert helpers.database_state(db_url) == before


def test_adopt_output_json(db_url, legacy, cli) -> None:
    legacy.create_and_seed(db_url)
    plan = json.loads(cli("adopt", "-o", "json").stdout)
    assert plan["applied"] is False
    assert plan["faults"] == []
    assert {s["customer_id"]: s["slug"] for s in plan["slugs"]} == {
        1: "acme-corp",
        2: "globex",
        6: "data-center",
    }


def test_export_all_needs_an_output_dir(db_url, legacy, cli, tmp_path) -> None:
    legacy.create_and_seed(db_url)
    cli("adopt", "--yes")
    result = cli("export", "--all", expect=2)
    assert "error: --all writes a directory: give --output-dir DIR" in result.stderr
    result = cli("export", "--all", "--defaults", "--output-dir", str(tmp_path / "x"), expect=2)
    assert "leave out --customer, --defaults and --output-file" in result.stderr
    assert not (tmp_path / "x").exists()


def test_export_all_keeps_the_definitions_of_an_existing_catalog(
    db_url, legacy, cli, tmp_path
) -> None:
    """With the shipped kpis.yaml in the ranges dir, its units and descriptions stay."""
    import shutil

    ranges = tmp_path / "shipped"
    shutil.copytree(Path(__file__).resolve().parents[2] / "ranges", ranges)
    legacy.create_and_seed(db_url)
    cli("adopt", "--yes", ranges=ranges)
    out_dir = tmp_path / "out"
    result = cli("export", "--all", "--output-dir", str(out_dir), ranges=ranges)
    assert "review" not in result.stderr
    catalog = (out_dir / "kpis.yaml").read_text()
    assert "review" not in catalog
    assert "  p95_latency_ms:\n    unit: ms\n    better: lower\n" in catalog
    cli("validate", ranges=out_dir)
    assert "No differences" in cli("diff", "--all", ranges=out_dir).stdout


def test_slug_from_a_csv_file_and_an_application_column(db_url, legacy, cli, helpers, tmp_path):
    legacy.create_and_seed(db_url)
    helpers.execute(
        db_url,
        "ALTER TABLE customers ADD COLUMN crm_code VARCHAR(40)",
        "UPDATE customers SET crm_code = 'cust-' || CAST(customer_id AS VARCHAR(10))",
    )
    mapping = tmp_path / "slugs.csv"
    mapping.write_text("customer_id,slug\n1,acme\n2,globex\n6,data-center\n")
    plan = cli("adopt", "--slug-from", f"file:{mapping}")
    assert re.search(r"^\s+1\s+Acme Corp\s+-> acme$", plan.stdout, re.M)
    plan = cli("adopt", "--slug-from", "column:crm_code")
    assert re.search(r"^\s+6\s+Data Center\s+-> cust-6$", plan.stdout, re.M)

    bad = tmp_path / "bad.csv"
    bad.write_text("id,slug\n1,acme\n")
    before = helpers.database_state(db_url)
    result = cli("adopt", "--yes", "--slug-from", f"file:{bad}", expect=2)
    assert "the header must be customer_id,slug" in result.stderr
    result = cli("adopt", "--yes", "--slug-from", "column:nope", expect=2)
    assert "customers has no column 'nope'" in result.stderr
    result = cli("adopt", "--yes", "--slug-from", "guess", expect=2)
    assert "invalid --slug-from 'guess'" in result.stderr
    assert helpers.database_state(db_url) == before

    cli("adopt", "--yes", "--slug-from", f"file:{mapping}")
    slugs = helpers.execute(db_url, "SELECT customer_id, slug, crm_code FROM customers ORDER BY 1")
    assert [tuple(r) for r in slugs] == [
        (1, "acme", "cust-1"),
        (2, "globex", "cust-2"),
        (6, "data-center", "cust-6"),
    ]
    out_dir = tmp_path / "out"
    cli("export", "--all", "--output-dir", str(out_dir))
    assert (out_dir / "customers" / "acme.yaml").is_file()
    assert "No differences" in cli("diff", "--all", ranges=out_dir).stdout


def test_init_on_the_applications_database_points_to_adopt(db_url, legacy, cli, helpers):
    legacy.create_and_seed(db_url)
    before = helpers.database_state(db_url)
    for command in (["init"], ["list"]):
        result = cli(*command, expect=3)
        assert "but no kpictl schema version: another application created them" in result.stderr
        assert "hint: 'kpictl adopt' shows how kpictl would take them over" in result.stderr
    assert helpers.database_state(db_url) == before


def test_a_customers_table_with_a_slug_column_is_not_taken_over(db_url, legacy, cli, helpers):
    legacy.create_and_seed(db_url)
    helpers.execute(db_url, "ALTER TABLE customers ADD COLUMN slug VARCHAR(20)")
    before = helpers.database_state(db_url)
    result = cli("adopt", "--yes", expect=2)
    assert "error: customers already has a column slug" in result.stderr
    assert helpers.database_state(db_url) == before


def test_adopt_output_csv_is_flat(db_url, legacy, cli) -> None:
    import csv
    import io

    legacy.create_and_seed(db_url)
    records = list(csv.DictReader(io.StringIO(cli("adopt", "-o", "csv").stdout)))
    assert list(records[0]) == [
        "kind",
        "section",
        "action",
        "what",
        "customer_id",
        "slug",
        "range_ids",
    ]
    assert {r["kind"] for r in records} == {"step", "slug"}
    assert {(r["customer_id"], r["slug"]) for r in records if r["kind"] == "slug"} == {
        ("1", "acme-corp"),
        ("2", "globex"),
        ("6", "data-center"),
    }


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_an_application_transaction_holding_the_table_bounds_the_wait(
    db_url, legacy, cli, helpers
) -> None:
    """ALTER TABLE waits for the application's open transactions: at most --lock-timeout,
    then exit 3 with nothing changed."""
    import threading

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from kpictl.db.engine import driver_url

    legacy.create_and_seed(db_url)
    before = helpers.database_state(db_url)
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    holding, release = threading.Event(), threading.Event()

    def application() -> None:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT count(*) FROM kpi_reference_ranges"))
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=application)
    thread.start()
    try:
        assert holding.wait(10)
        result = cli("adopt", "--yes", "--lock-timeout", "1", expect=3)
    finally:
        release.set()
        thread.join()
        engine.dispose()
    assert "error: could not obtain the database lock in time" in result.stderr
    assert "Traceback" not in result.output
    assert helpers.database_state(db_url) == before


def test_an_application_column_kpictl_cannot_fill_is_named(db_url, legacy, cli, helpers):
    """Columns kpictl does not know stay as they are; one that is NOT NULL without a
    default would refuse kpictl's inserts, and the plan says so."""
    legacy.create_and_seed(db_url)
    helpers.execute(
        db_url, "ALTER TABLE kpi_reference_ranges ADD COLUMN source TEXT NOT NULL DEFAULT 'seed'"
    )
    if db_url.startswith("postgresql"):  # SQLite cannot add NOT NULL without a default
        helpers.execute(
            db_url,
            "ALTER TABLE customers ADD COLUMN region TEXT",
            "UPDATE customers SET region = 'eu'",
            "ALTER TABLE customers ALTER COLUMN region SET NOT NULL",
        )
    plan = cli("adopt", "--yes").stdout
    assert "kpi_reference_ranges.source" not in plan
    note = "note: customers.region: NOT NULL without a default, and not kpictl's"
    assert (note in plan) is db_url.startswith("postgresql"), plan
    sources = helpers.execute(db_url, "SELECT DISTINCT source FROM kpi_reference_ranges")
    assert [tuple(r) for r in sources] == [("seed",)]
