"""Files a pull request controls (issue 14 §5): symbolic links leaving the ranges
directory and special files are refused and never read; ``validate`` and ``seed --all``
reach one verdict on odd trees; CSV and ``--values`` files are bounded.

Every refusal names the file, leaves the database as it was (both backends), and echoes
nothing of a file that is not a range file.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

SECRET = "s3cr3t-hash-$6$rounds=5000$abcdefgh"
PASSWD_LIKE = f"zqxw_root: {SECRET}\nzqxw_daemon: {SECRET}x\nzqxw_nobody: {SECRET}y\n"


def _no_secret(result) -> None:
    output = result.stdout + result.stderr
    assert "s3cr3t" not in output, output
    assert "zqxw" not in output, output
    assert "Traceback" not in output and "unexpected" not in output, output


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "shadow"
    target.write_text(PASSWD_LIKE)
    return target


# -- symbolic links ------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    ["customers/evil.yaml", "customers/acme.yaml", "defaults.yaml", "kpis.yaml"],
)
def test_a_symlink_leaving_the_ranges_dir_is_refused_and_never_read(
    kpictl, ranges_dir: Path, db_url: str, db_snapshot, secret_file: Path, link: str, rel
) -> None:
    kpictl("init")
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    path = ranges_dir / link
    path.unlink(missing_ok=True)
    path.symlink_to(secret_file)
    shown = str(path)

    checked = kpictl("validate", expect=1)
    _no_secret(checked)
    assert any(
        line.startswith(f"error: {shown}") and "symbolic link leaving the ranges directory" in line
        for line in checked.stderr.splitlines()
    ), checked.stderr

    for args in (["seed", "--all"], ["diff", "--all"]):
        result = kpictl(*args, expect=2)
        _no_secret(result)
        assert shown in result.stderr, result.stderr
    if link.startswith("customers/"):
        result = kpictl("seed", "--customer", path.stem, expect=2)
        _no_secret(result)
    assert db_snapshot(db_url) == before


def test_the_customers_dir_as_a_symlink_leaving_the_tree_is_refused(
    kpictl, ranges_dir: Path, db_url: str, db_snapshot, tmp_path: Path
) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(ranges_dir / "customers", elsewhere)
    (ranges_dir / "customers").symlink_to(elsewhere)
    assert "symbolic link leaving" in kpictl("validate", expect=1).stderr
    assert "symbolic link leaving" in kpictl("seed", "--all", expect=2).stderr
    assert db_snapshot(db_url) == before


def test_a_symlink_inside_the_tree_is_followed(kpictl, ranges_dir: Path) -> None:
    """The chosen rule: a link whose target stays inside the ranges directory is fine."""
    shared = ranges_dir / "shared"
    shared.mkdir()
    shutil.move(ranges_dir / "customers" / "acme.yaml", shared / "acme.yaml")
    (ranges_dir / "customers" / "acme.yaml").symlink_to("../shared/acme.yaml")
    kpictl("validate")
    kpictl("init")
    kpictl("seed", "--all")
    assert "acme" in kpictl("customers", "list").stdout


def test_a_symlink_named_to_validate_that_leaves_is_refused(
    kpictl, ranges_dir: Path, secret_file: Path
) -> None:
    link = ranges_dir / "customers" / "evil.yaml"
    link.symlink_to(secret_file)
    result = kpictl("validate", str(link), expect=1)
    _no_secret(result)
    result = kpictl("validate", str(ranges_dir / "customers"), expect=1)
    _no_secret(result)


def test_a_file_that_is_no_range_file_is_never_echoed(
    kpictl, ranges_dir: Path, secret_file: Path
) -> None:
    """Named on purpose, it is read, but none of its keys or values appear."""
    result = kpictl("validate", str(secret_file), expect=1)
    _no_secret(result)
    assert "not a kpictl file" in result.stderr


# -- special files -------------------------------------------------------------------


@pytest.mark.parametrize("where", ["customers/fifo.yaml", "defaults.yaml"])
def test_a_fifo_is_refused_at_once(
    kpictl, ranges_dir: Path, db_url: str, db_snapshot, where: str
) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    path = ranges_dir / where
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    started = time.monotonic()
    checked = kpictl("validate", expect=1)
    assert f"error: {path}" in checked.stderr and "not a regular file" in checked.stderr
    seeded = kpictl("seed", "--all", expect=2)
    assert str(path) in seeded.stderr
    assert time.monotonic() - started < 30
    assert db_snapshot(db_url) == before


# -- odd trees: one discovery, one verdict -------------------------------------------


def _odd_tree(ranges_dir: Path, kind: str) -> Path:
    customers = ranges_dir / "customers"
    if kind == "customer dir named x.yaml":
        (customers / "initech.yaml").mkdir()
        return customers / "initech.yaml"
    if kind == "defaults.yaml a directory":
        (ranges_dir / "defaults.yaml").unlink()
        (ranges_dir / "defaults.yaml").mkdir()
        (ranges_dir / "defaults.yaml" / "x.yaml").write_text("apiVersion: kpictl/v1\n")
        return ranges_dir / "defaults.yaml"
    if kind == "nested customer files":
        (customers / "eu").mkdir()
        shutil.copy(customers / "acme.yaml", customers / "eu" / "acme.yaml")
        return customers / "eu"
    if kind == "customers not a directory":
        shutil.rmtree(customers)
        customers.write_text("acme\n")
        return customers
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "customer dir named x.yaml",
        "defaults.yaml a directory",
        "nested customer files",
        "customers not a directory",
    ],
)
def test_validate_and_seed_all_agree_on_odd_trees(
    kpictl, ranges_dir: Path, db_url: str, db_snapshot, kind: str
) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    odd = _odd_tree(ranges_dir, kind)
    checked = kpictl("validate", expect=1)
    assert any(line.startswith(f"error: {odd}") for line in checked.stderr.splitlines()), (
        checked.stderr
    )
    seeded = kpictl("seed", "--all", expect=2)
    assert f"error: {odd}" in seeded.stderr, seeded.stderr
    assert "Traceback" not in seeded.stderr
    assert db_snapshot(db_url) == before


# -- bounded reading of CSV and --values ---------------------------------------------


def test_dev_zero_as_csv_or_values_is_refused_quickly(
    kpictl, db_url: str, db_snapshot, rel
) -> None:
    kpictl("init")
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    with rel.time_limit(20):
        line = rel.assert_one_clean_error(
            kpictl("observations", "import", "/dev/zero", expect=None), 2
        )
    assert "longer than 1,048,576 characters" in line
    with rel.time_limit(20):
        line = rel.assert_one_clean_error(
            kpictl("score", "acme", "--values", "/dev/zero", expect=None), 2
        )
    assert line == "error: --values /dev/zero: larger than 1 MiB (the limit is 1,048,576 bytes)"
    assert db_snapshot(db_url) == before


def test_a_csv_line_over_the_limit_is_refused_with_its_line(
    kpictl, db_url: str, db_snapshot, tmp_path: Path, rel
) -> None:
    kpictl("init")
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    csv = tmp_path / "big.csv"
    with csv.open("w") as out:
        out.write("customer,kpi_name,value,observed_at\n")
        out.write("acme,error_rate_pct,1,2026-01-01T00:00:00Z\n")
        out.write("acme,error_rate_pct," + "1" * 2_000_000 + ",2026-01-01T00:00:00Z\n")
    line = rel.assert_one_clean_error(kpictl("observations", "import", str(csv), expect=None), 2)
    assert f"error: {csv}:3: line is longer than 1,048,576 characters" in line
    assert db_snapshot(db_url) == before


def test_a_values_file_over_a_mebibyte_is_refused(kpictl, tmp_path: Path, rel) -> None:
    kpictl("init")
    kpictl("seed", "--all")
    values = tmp_path / "values.yaml"
    values.write_text("error_rate_pct: 1\n" + "# padding\n" * 120_000)
    line = rel.assert_one_clean_error(
        kpictl("score", "acme", "--values", str(values), expect=None), 2
    )
    assert "larger than 1 MiB" in line


# -- names that are not UTF-8 ----------------------------------------------------------


def test_non_utf8_names_under_ranges(kpictl, ranges_dir: Path, db_url: str, db_snapshot) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    customers = os.fsencode(ranges_dir / "customers")
    os.mkdir(customers + b"/\xff\xfe")
    with open(customers + b"/bad\xff.yaml", "wb") as out:
        out.write((ranges_dir / "customers" / "acme.yaml").read_bytes())
    os.mkdir(os.fsencode(ranges_dir) + b"/\xfelegacy")
    for args, code in ((["validate"], 1), (["seed", "--all"], 2), (["diff", "--all"], 2)):
        result = kpictl(*args, expect=code)
        output = result.stdout + result.stderr
        assert "Traceback" not in output and "unexpected" not in output, output
        assert "not valid UTF-8" not in output, output  # no argument is at fault
        assert "\\udcff\\udcfe: a directory inside customers/" in result.stderr, output
    checked = kpictl("validate", expect=1)
    assert "bad\\udcff.yaml:5 customer:" in checked.stderr
    assert db_snapshot(db_url) == before
