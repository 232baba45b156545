"""Hostile range files and CSVs: the corpus (corpus/manifest.yaml says what each must
produce), and inputs too big or too odd to keep as files. Every refusal is one clean
error naming the file, with the right exit code, and leaves the database as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST = yaml.safe_load((CORPUS / "manifest.yaml").read_text())
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
MAX_ERROR_LINE = 2200  # kpictl cuts an error message at 2000 characters


def entry_id(entry: dict[str, Any]) -> str:
    return str(entry["file"]).rsplit(".", 1)[0]


def error_naming(result: Any, name: str) -> str:
    """The error line that names the file ``name``."""
    lines = [
        line for line in result.stderr.splitlines() if line.startswith("error:") and name in line
    ]
    assert lines, result.stderr
    return lines[0]


def assert_no_crash(result: Any) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "error: unexpected" not in output, output
    for line in result.stderr.splitlines():
        assert len(line) < MAX_ERROR_LINE, f"a line of {len(line):,} characters"


# -- the corpus ------------------------------------------------------------------------


def check_range_file(kpictl, ranges_dir, db_url, db_snapshot, entry: dict[str, Any]) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    target = ranges_dir / entry["as"]
    shutil.copyfile(CORPUS / "ranges" / entry["file"], target)
    shown = str(target.relative_to(ranges_dir.parent))

    if entry.get("valid"):
        kpictl("validate")
        kpictl("seed", "--all", "--prune")
        kpictl("diff", "--all")
        customers = json.loads(kpictl("customers", "list", "-o", "json").stdout)
        assert {c["slug"]: c["name"] for c in customers}["acme"] == entry["name"]
        return

    results = [
        (kpictl("validate", expect=1), 1),
        (kpictl("seed", "--all", "--dry-run", expect=2), 2),
        (kpictl("seed", "--all", expect=2), 2),
    ]
    for result, _code in results:
        assert_no_crash(result)
        line = error_naming(result, shown)
        assert entry["message"] in line, line
    assert db_snapshot(db_url) == before


INVALID = [e for e in MANIFEST["ranges"] if not e.get("valid")]
VALID = [e for e in MANIFEST["ranges"] if e.get("valid")]


@SQLITE_ONLY  # refused before the database is opened: one backend is enough
@pytest.mark.parametrize("entry", INVALID, ids=entry_id)
def test_hostile_range_file(kpictl, ranges_dir, db_url, db_snapshot, entry) -> None:
    check_range_file(kpictl, ranges_dir, db_url, db_snapshot, entry)


@pytest.mark.parametrize("entry", VALID, ids=entry_id)
def test_odd_but_valid_range_file(kpictl, ranges_dir, db_url, db_snapshot, entry) -> None:
    check_range_file(kpictl, ranges_dir, db_url, db_snapshot, entry)


@pytest.mark.parametrize("entry", MANIFEST["csv"], ids=entry_id)
def test_hostile_csv(rel, kpictl, db_url, db_snapshot, entry) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    source = CORPUS / "csv" / entry["file"]
    result = kpictl("observations", "import", str(source), expect=entry["exit"])
    assert_no_crash(result)
    if entry["exit"] == 0:
        return
    line = rel.assert_one_clean_error(result, entry["exit"])
    assert str(source) in line and entry["message"] in line, line
    assert line.endswith("; nothing was written"), line
    assert db_snapshot(db_url) == before


def test_the_corpus_and_its_manifest_agree() -> None:
    listed = {e["file"] for e in MANIFEST["ranges"] + MANIFEST["csv"]}
    present = {p.name for p in (CORPUS / "ranges").iterdir()}
    present |= {p.name for p in (CORPUS / "csv").iterdir()}
    assert listed == present


# -- too big to keep -----------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize(
    "text",
    [
        "name: " + "x" * 10_000_000 + "\n",  # one 10 MB line
        "# " + "x" * (1 << 20) + "\n",  # just over 1 MiB of comment
    ],
    ids=["10-MB-line", "over-1-MiB"],
)
def test_a_range_file_over_1_mib_is_refused_unread(
    rel, kpictl, ranges_dir, db_url, db_snapshot, text: str
) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    acme = ranges_dir / "customers" / "acme.yaml"
    acme.write_text(acme.read_text() + text)
    for args, code in ((["validate"], 1), (["seed", "--all"], 2)):
        with rel.time_limit(10):
            result = kpictl(*args, expect=code)
        assert_no_crash(result)
        assert "larger than 1 MiB" in error_naming(result, "customers/acme.yaml")
    assert db_snapshot(db_url) == before


def test_a_display_name_of_900_kb_is_stored_whole(kpictl, ranges_dir) -> None:
    acme = ranges_dir / "customers" / "acme.yaml"
    name = "Ακμή " * 100_000  # 500,000 characters, 900 KB of UTF-8
    acme.write_text(acme.read_text().replace("name: Acme Corp", f"name: {name}"))
    kpictl("validate")
    kpictl("seed", "--all")
    customers = json.loads(kpictl("customers", "list", "-o", "json").stdout)
    assert {c["slug"]: c["name"] for c in customers}["acme"] == name.strip()


def test_a_10_mb_csv_line_is_refused(rel, kpictl, db_url, db_snapshot, tmp_path) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    source = tmp_path / "huge.csv"
    source.write_text(
        "customer,kpi_name,value,observed_at\nacme,error_rate_pct," + "1" * 10_000_000 + ",x\n"
    )
    result = kpictl("observations", "import", str(source), expect=2)
    line = rel.assert_one_clean_error(result, 2)
    # issue 14 §5: a line is bounded (1 MiB) before the CSV reader holds it all
    assert "huge.csv:2: line is longer than 1,048,576 characters" in line, line
    assert db_snapshot(db_url) == before


def test_many_bad_lines_are_summed_up_in_one_short_line(
    rel, kpictl, db_url, db_snapshot, tmp_path
) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    source = tmp_path / "bad.csv"
    with source.open("w") as f:
        f.write("customer,kpi_name,value,observed_at\n")
        for i in range(200_000):
            f.write(f"acme,error_rate_pct,{'x' * 50}{i},2026-11-27T00:00:00Z\n")
    with rel.time_limit(30):
        result = kpictl("observations", "import", str(source), expect=2)
    line = rel.assert_one_clean_error(result, 2)
    assert "and 199,995 more problems" in line or "and 199995 more problems" in line, line
    assert len(result.stderr) < 2000
    assert db_snapshot(db_url) == before


# -- names of files and paths --------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize(
    "stem",
    ["x'; DROP TABLE customers; --", "Acme", "acme\u200b", "-acme", "a" * 64, "ａｃｍｅ"],
    ids=["sql", "uppercase", "zero-width", "leading-dash", "64-characters", "fullwidth"],
)
def test_a_customer_file_whose_name_is_not_a_slug(
    kpictl, ranges_dir, db_url, db_snapshot, stem: str
) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    path = ranges_dir / "customers" / f"{stem}.yaml"
    path.write_text(
        f"apiVersion: kpictl/v1\ncustomer: {json.dumps(stem)}\nversion: 1\nranges: {{}}\n"
    )
    for args, code in ((["validate"], 1), (["seed", "--all"], 2)):
        result = kpictl(*args, expect=code)
        assert_no_crash(result)
        assert "not a valid slug" in error_naming(result, "customers/"), result.stderr
    assert db_snapshot(db_url) == before


@SQLITE_ONLY
@pytest.mark.parametrize(
    "slug", ["../defaults", "../../../etc/passwd", "/etc/passwd", "acme/../globex", "acme.yaml"]
)
def test_seed_customer_refuses_a_path(rel, kpictl, db_url, db_snapshot, slug: str) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    line = rel.assert_one_clean_error(kpictl("seed", "--customer", slug, expect=2), 2)
    assert "slug" in line, line
    assert db_snapshot(db_url) == before


@pytest.mark.parametrize(
    ("path", "message"),
    [("/dev/zero", "not a regular file"), ("/etc/passwd", "must be a mapping")],
)
def test_validate_of_a_device_or_a_foreign_file(tmp_path, path: str, message: str) -> None:
    from typer.testing import CliRunner

    from kpictl.cli.app import app

    result = CliRunner().invoke(app, ["--ranges", str(tmp_path), "validate", path])
    assert result.exit_code == 1, result.output
    assert message in error_naming(result, path)
    assert_no_crash(result)


@SQLITE_ONLY
def test_symlinks_to_a_device_and_to_nowhere(kpictl, ranges_dir, db_url, db_snapshot) -> None:
    """validate and seed --all report them alike; seed neither hangs nor writes."""
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    (ranges_dir / "customers" / "zero.yaml").symlink_to("/dev/zero")
    (ranges_dir / "customers" / "gone.yaml").symlink_to(ranges_dir / "no-such-file.yaml")
    result = kpictl("validate", expect=1)
    assert "not a regular file" in error_naming(result, "customers/zero.yaml")
    assert "no such file" in error_naming(result, "customers/gone.yaml")
    seeded = kpictl("seed", "--all", expect=2)
    assert_no_crash(seeded)
    assert "not a regular file" in error_naming(seeded, "customers/zero.yaml")
    assert db_snapshot(db_url) == before


def test_a_fifo_in_the_ranges_dir_does_not_hang_validate(ranges_dir, tmp_path) -> None:
    os.mkfifo(ranges_dir / "customers" / "pipe.yaml")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kpictl", "--ranges", str(ranges_dir), "validate"],
            capture_output=True,
            text=True,
            timeout=3,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("kpictl validate hung on a FIFO")
    assert done.returncode == 1
    assert "pipe.yaml: not a regular file" in done.stderr


# -- long and odd command-line values --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["list", "--customer", "a" * 1_000_000], 2, "unknown customer 'aaaa"),
        (["list", "--kpi", "k" * 1_000_000], 2, "unknown KPI 'kkkk"),
        (["score", "acme", "--set", "error_rate_pct=" + "9" * 1_000_000], 2, "not a finite number"),
        (["score", "acme", "--set", "x" * 1_000_000 + "=1"], 2, "unknown KPI"),
        (["score", "acme", "--at", "2026-" * 200_000], 2, "is not an ISO 8601 time"),
        (["customers", "add", "z" * 1_000_000, "--name", "Z"], 2, "invalid customer slug"),
        (["observations", "list", "--customer", "ａｃｍｅ"], 2, "unknown customer"),
    ],
    ids=["customer", "kpi", "set-value", "set-kpi", "at", "add-slug", "fullwidth"],
)
def test_long_and_odd_option_values(
    rel, kpictl, db_url, db_snapshot, args: list[str], code: int, message: str
) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    result = rel.run_bounded(kpictl, args, 10)
    line = rel.assert_one_clean_error(result, code)
    assert message in line, line
    assert len(line) < MAX_ERROR_LINE
    assert db_snapshot(db_url) == before


@pytest.mark.parametrize(
    "name",
    ["Ακμή 株式会社 🚀", "x" * 100_000, "O'Brien; DROP TABLE customers; --"],
    ids=["unicode", "100k", "sql"],
)
def test_customer_names_are_stored_as_given(kpictl, name: str) -> None:
    kpictl("customers", "add", "initech", "--name", name)
    customers = json.loads(kpictl("customers", "list", "-o", "json").stdout)
    assert [c["name"] for c in customers if c["slug"] == "initech"] == [name]


def test_a_bidi_override_name_is_refused(rel, kpictl, db_url, db_snapshot) -> None:
    """Issue 14 §4: a right-to-left override makes a name read as another (it was
    stored as given before)."""
    kpictl("init")
    before = db_snapshot(db_url)
    result = kpictl("customers", "add", "initech", "--name", "\u202eevil\u202c", expect=2)
    line = rel.assert_one_clean_error(result, 2)
    assert line == "error: --name must not contain control characters, got '\\u202e'", line
    assert db_snapshot(db_url) == before


# -- display names and odd entries under customers/ -----------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize("name", ['"Acme\\0Corp"', '"Acme\\e[31mRed"'], ids=["nul", "escape"])
def test_a_display_name_with_a_control_character_is_refused(
    kpictl, ranges_dir, db_url, db_snapshot, name
) -> None:
    """PostgreSQL would refuse a NUL at seed time (exit 3); an ESC would reach terminals."""
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    acme = ranges_dir / "customers" / "acme.yaml"
    acme.write_text(acme.read_text().replace("name: Acme Corp", f"name: {name}"))
    kpictl("validate", expect=1)
    seeded = kpictl("seed", "--all", expect=2)
    line = error_naming(seeded, "customers/acme.yaml")
    assert "name: must not contain control characters" in line, line
    assert db_snapshot(db_url) == before


@SQLITE_ONLY
@pytest.mark.parametrize("name", ["Acme\x00Corp", "Acme\x1b[31mRed"], ids=["nul", "escape"])
def test_customers_add_refuses_a_name_with_a_control_character(
    rel, kpictl, db_url, db_snapshot, name
) -> None:
    kpictl("init")  # a read creates no database (SPEC section 7)
    before = db_snapshot(db_url)
    result = rel.run_bounded(kpictl, ["customers", "add", "initech", "--name", name], 10)
    line = rel.assert_one_clean_error(result, 2)
    assert "--name must not contain control characters" in line, line
    assert db_snapshot(db_url) == before


@SQLITE_ONLY
@pytest.mark.parametrize("kind", ["fifo", "dangling-symlink"])
def test_seed_refuses_what_validate_refuses(kpictl, ranges_dir, db_url, db_snapshot, kind) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    odd = ranges_dir / "customers" / "initech.yaml"
    if kind == "fifo":
        os.mkfifo(odd)
    else:
        odd.symlink_to(ranges_dir / "customers" / "gone.yaml")
    expected = "not a regular file" if kind == "fifo" else "no such file"
    assert expected in error_naming(kpictl("validate", expect=1), "customers/initech.yaml")
    seeded = kpictl("seed", "--all", expect=2)
    assert expected in error_naming(seeded, "customers/initech.yaml")
    assert db_snapshot(db_url) == before
