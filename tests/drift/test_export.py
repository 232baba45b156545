"""kpictl export: the database as a valid range file; the round trip is clean."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

SHIPPED_RANGES = Path(__file__).resolve().parents[2] / "ranges"

SHIPPED_SCOPES = [["--defaults"], ["--customer", "acme"], ["--customer", "data-center"]]


def target(ranges_dir: Path, args: list[str]) -> Path:
    if args == ["--defaults"]:
        return ranges_dir / "defaults.yaml"
    return ranges_dir / "customers" / f"{args[1]}.yaml"


def test_every_shipped_file_round_trips(load_ranges, kpictl, ranges_dir) -> None:
    """export -> write back -> validate is clean -> diff shows no difference."""
    kpictl("seed", "--all")
    original = load_ranges(ranges_dir)
    scopes = [*SHIPPED_SCOPES, ["--customer", "globex"]]
    for args in scopes:
        exported = kpictl("export", *args).stdout
        assert exported.startswith("# Exported by kpictl from the database: version 1,")
        target(ranges_dir, args).write_text(exported)
    result = kpictl("validate", "--strict")
    assert "valid: 0 error(s), 0 warning(s)" in result.stderr
    kpictl("diff", expect=0)
    again = load_ranges(ranges_dir)
    for before, after in zip(original.files(), again.files(), strict=True):
        assert after.content() == before.content()
        assert after.version == before.version


def test_the_export_reads_like_the_shipped_files(kpictl) -> None:
    kpictl("seed", "--all")
    text = kpictl("export", "--customer", "data-center").stdout
    assert text.splitlines()[1:10] == [
        "apiVersion: kpictl/v1",
        "customer: data-center",
        "name: Data Center",
        "version: 1",
        "scoring:",
        "  model: regression",
        "  intercept: 52.14",
        "  coefficients:",
        "    invocation_velocity_change_pct: 0.416",
    ]
    assert (
        "ranges:\n"
        "  daily_invocations:\n"
        "    critical: {max: 956}\n"
        "    risk: {min: 956, max: 2000}\n"
        "    healthy: {min: 2000}\n"
        "    weight: 2\n"
        "    playbook: usage-drop\n"
        "  invocations_30d:\n"
        "    critical: {max: 28680}\n"
    ) in text
    assert ".0}" not in text and ".0," not in text
    # the catalog's order, which is the shipped file's order
    kpis = re.findall(r"^  (\w+):$", text.partition("\nranges:\n")[2], re.M)
    shipped = (SHIPPED_RANGES / "customers" / "data-center.yaml").read_text()
    assert kpis == re.findall(r"^  (\w+):$", shipped.partition("\nranges:\n")[2], re.M)
    assert len(kpis) == 10
    acme = kpictl("export", "--customer", "acme").stdout
    assert "    risk: {min: 0.5, max: 2}\n" in acme
    globex = kpictl("export", "--customer", "globex").stdout
    assert globex.endswith("name: Globex\nversion: 1\nranges: {}\n")


def test_export_shows_the_database_not_the_file(kpictl, sql, ranges_dir) -> None:
    kpictl("seed", "--all")
    sql(
        "UPDATE kpi_reference_ranges SET weight = 2.5 WHERE kpi_name = 'cold_start_pct' "
        "AND customer_id IS NULL"
    )
    result = kpictl("export", "--defaults")
    assert "warning: the stored rows differ from revision v1 (cold_start_pct)" in result.stderr
    text = result.stdout
    assert "  cold_start_pct:\n    critical: {min: 15}\n    risk: {min: 5, max: 15}\n" in text
    assert "    weight: 2.5\n    playbook: latency-review\n" in text
    # written back at the same version, diff says the content differs from the revision
    (ranges_dir / "defaults.yaml").write_text(text)
    kpictl("diff", "--defaults", expect=1)


def test_output_file(kpictl, tmp_path: Path) -> None:
    kpictl("seed", "--all")
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "acme.yaml"
    result = kpictl("export", "--customer", "acme", "--output-file", str(out))
    assert result.stdout == ""
    assert f"wrote {out} (version 1)" in result.stderr
    assert out.read_text() == kpictl("export", "--customer", "acme").stdout
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~_umask()
    # the directory must exist; nothing half-written is left behind
    missing = folder / "no" / "such" / "acme.yaml"
    result = kpictl("export", "--customer", "acme", "--output-file", str(missing), expect=2)
    assert result.stderr.startswith(f"error: cannot write {missing}")
    assert [p.name for p in folder.iterdir()] == ["acme.yaml"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_customer_without_a_revision(kpictl) -> None:
    kpictl("init")
    kpictl("customers", "add", "initech", "--name", "Initech: East")
    result = kpictl("export", "--customer", "initech")
    assert 'name: "Initech: East"\nversion: 1\nranges: {}\n' in result.stdout
    assert "warning: no revision is recorded for initech" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "error: select what to export"),
        (["--customer", "acme", "--defaults"], "error: select what to export"),
        (["--customer", "nobody"], "error: unknown customer 'nobody'"),
    ],
)
def test_export_usage_errors(kpictl, db_url, db_snapshot, args, message) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    result = kpictl("export", *args, expect=2)
    assert result.stderr.startswith(message)
    assert db_snapshot(db_url) == before


def test_stored_data_that_makes_no_valid_file_is_exit_1(kpictl, sql) -> None:
    kpictl("seed", "--all")
    sql(
        "UPDATE kpi_reference_ranges SET risk_min = 3000 WHERE kpi_name = 'monthly_spend' "
        "AND customer_id IS NULL"
    )
    result = kpictl("export", "--defaults", expect=1)
    assert "risk: {min: 3000, max: 2000}" in result.stdout
    assert "error: (exported) defaults.yaml:" in result.stderr
