"""kpictl schema: print, write and check the JSON Schemas; no database, no SQLAlchemy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kpictl.rangefiles.schema import SCHEMA_FILES

REPO = Path(__file__).resolve().parents[2]


def kpictl(ranges: Path, *args: str, expect: int = 0):
    from kpictl.cli.app import app

    env = {"NO_COLOR": "1", "COLUMNS": "200", "KPICTL_DEBUG": ""}
    result = CliRunner().invoke(
        app, ["--ranges", str(ranges), *args], env=env, catch_exceptions=False
    )
    assert result.exit_code == expect, result.output
    return result


def test_prints_the_three_schemas_by_kind(ranges_dir: Path) -> None:
    schemas = json.loads(kpictl(ranges_dir, "schema").stdout)
    assert list(schemas) == ["catalog", "defaults", "customer"]
    assert schemas["customer"]["title"].startswith("kpictl customer range file")
    assert "daily_invocations" in schemas["customer"]["properties"]["ranges"]["properties"]


@pytest.mark.parametrize("kind", ["catalog", "defaults", "customer"])
def test_one_kind_is_the_committed_file(ranges_dir: Path, kind: str) -> None:
    out = kpictl(ranges_dir, "schema", "--kind", kind).stdout
    assert out == (REPO / "schemas" / SCHEMA_FILES[kind]).read_text()  # type: ignore[index]


def test_yaml_output(ranges_dir: Path) -> None:
    out = kpictl(ranges_dir, "schema", "-k", "defaults", "-o", "yaml").stdout
    assert yaml.safe_load(out)["required"] == ["apiVersion", "version", "ranges"]


def test_no_catalog_enumerates_no_kpi(ranges_dir: Path) -> None:
    out = json.loads(kpictl(ranges_dir, "schema", "-k", "customer", "--no-catalog").stdout)
    ranges = out["properties"]["ranges"]
    assert "properties" not in ranges and "pattern" in ranges["propertyNames"]


def test_without_a_catalog_file_the_schemas_are_generic(tmp_path: Path) -> None:
    out = json.loads(kpictl(tmp_path, "schema", "-k", "defaults").stdout)
    assert "propertyNames" in out["properties"]["ranges"]
    result = kpictl(tmp_path, "schema", "-k", "defaults", "--catalog", expect=2)
    assert result.stderr.startswith(f"error: {tmp_path / 'kpis.yaml'}: no such file")


def test_an_invalid_catalog_is_exit_2_with_its_problems(ranges_dir: Path) -> None:
    catalog = ranges_dir / "kpis.yaml"
    catalog.write_text(catalog.read_text().replace("better: lower", "better: down", 1))
    result = kpictl(ranges_dir, "schema", expect=2)
    assert "better: must be higher, lower or none, got string 'down'" in result.stderr
    assert "its KPI names cannot go into the schemas" in result.stderr
    assert "hint: fix it (kpictl validate shows every problem), or pass --no-catalog" in (
        result.stderr
    )
    assert result.stdout == ""
    # the catalog's own schema does not depend on the catalog
    kpictl(ranges_dir, "schema", "--kind", "catalog")
    kpictl(ranges_dir, "schema", "--no-catalog")


def test_write_then_check_a_directory(ranges_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "schemas"
    result = kpictl(ranges_dir, "schema", "--output-dir", str(target))
    assert result.stdout == ""
    assert sorted(p.name for p in target.iterdir()) == sorted(SCHEMA_FILES.values())
    for name in SCHEMA_FILES.values():
        assert f"wrote {target / name}" in result.stderr
        assert (target / name).read_text() == (REPO / "schemas" / name).read_text()
    assert "3 schema file(s) up to date" in kpictl(ranges_dir, "schema", "-d", str(target)).stderr
    assert "up to date" in kpictl(ranges_dir, "schema", "-d", str(target), "--check").stderr

    # a KPI added to the catalog makes the range file schemas stale
    catalog = ranges_dir / "kpis.yaml"
    catalog.write_text(catalog.read_text() + "  new_kpi: {unit: count, better: higher}\n")
    result = kpictl(ranges_dir, "schema", "-d", str(target), "--check", expect=1)
    assert result.stderr.splitlines() == [
        f"error: missing or out of date: {target / 'defaults.schema.json'}, "
        f"{target / 'customer.schema.json'}",
        f"hint: run 'kpictl schema --output-dir {target}' and commit the result",
    ]
    assert (target / "customer.schema.json").read_text() == (
        REPO / "schemas" / "customer.schema.json"
    ).read_text()  # --check writes nothing
    kpictl(ranges_dir, "schema", "-d", str(target), "-k", "catalog", "--check")


def test_usage_errors(ranges_dir: Path, tmp_path: Path) -> None:
    result = kpictl(ranges_dir, "schema", "--check", expect=2)
    assert result.stderr.startswith("error: --check needs --output-dir")
    result = kpictl(ranges_dir, "schema", "-d", str(tmp_path), "-o", "yaml", expect=2)
    assert result.stderr.startswith("error: schema files are JSON")
    assert kpictl(ranges_dir, "schema", "--kind", "nope", expect=2).exit_code == 2


def test_the_schema_command_does_not_import_the_database_layer(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from kpictl.cli.app import app\n"
        "try:\n"
        f"    app(['--ranges', {str(REPO / 'ranges')!r}, 'schema', '-d', {str(tmp_path)!r}])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert out.returncode == 0, out.stderr
    modules = set(out.stdout.split())
    assert "kpictl.rangefiles.schema" in modules
    heavy = {m for m in modules if m.split(".")[0] in {"sqlalchemy", "alembic", "psycopg2"}}
    assert heavy == set()
    assert len(list(tmp_path.glob("*.schema.json"))) == 3
