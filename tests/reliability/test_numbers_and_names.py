"""Numbers at the edges and names that deceive (issue 14 §3, §4).

Integers of thousands of digits, Unicode digits where ASCII ones are meant,
bidirectional controls and invisible-only names: each is one clean ``error:`` line,
exit 2 (``validate``: 1, a file is invalid), the database unchanged on both backends.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HUGE = "9" * 5000  # more digits than int() converts (4,300): ValueError, not a number
HUGE_HEX = "0x" + "f" * 5000  # an int() without limit, but no str() of it


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("apiVersion: kpictl/v1", f"apiVersion: kpictl/v{HUGE}", "apiVersion"),
        ("apiVersion: kpictl/v1", f"apiVersion: kpictl/{HUGE}", "apiVersion"),
        ("version: 1", f"version: {HUGE}", "version"),
        ("version: 1", f"version: {HUGE_HEX}", "version"),
        ("version: 1", f"version: -{HUGE_HEX}", "version"),
        ("risk: {min: 0.5, max: 2}", f"risk: {{min: 0.5, max: {HUGE_HEX}}}", "max"),
        ("name: Acme Corp", f"name: {HUGE_HEX}", "name"),
    ],
    ids=["apiVersion", "apiVersion-bare", "version", "version-hex", "version-neg", "max", "name"],
)
def test_huge_integers_in_range_files(
    kpictl, ranges_dir: Path, db_url: str, db_snapshot, rel, old: str, new: str, field: str
) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    acme = ranges_dir / "customers" / "acme.yaml"
    _replace(acme, old, new)
    checked = kpictl("validate", expect=1)
    [line] = [x for x in checked.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: {acme}:"), line
    assert field in line and len(line) < 400, line
    assert "unexpected" not in checked.stderr
    seeded = kpictl("seed", "--all", expect=2)
    assert f"error: {acme}:" in seeded.stderr
    assert "unexpected" not in seeded.stderr and "Traceback" not in seeded.stderr
    assert db_snapshot(db_url) == before


@pytest.mark.parametrize(
    "values",
    [f"error_rate_pct: {HUGE}\n", f"error_rate_pct: {HUGE_HEX}\n", f"{HUGE_HEX}: 1\n"],
    ids=["decimal", "hex", "key"],
)
def test_huge_integers_in_values_files(kpictl, tmp_path: Path, rel, values: str) -> None:
    kpictl("init")
    kpictl("seed", "--all")
    path = tmp_path / "values.yaml"
    path.write_text(values)
    line = rel.assert_one_clean_error(
        kpictl("score", "acme", "--values", str(path), expect=None), 2
    )
    assert line.startswith(f"error: --values {path}:1"), line
    assert len(line) < 400, line


# -- names that deceive ----------------------------------------------------------------

BIDI = ["\u202e", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068"]
BIDI += ["\u2069", "\u200e", "\u200f", "\u061c"]
INVISIBLE = ["\u200b", "\u200b\u200c\u200d", "\u2060", "\ufeff", "\u3164", "\u00a0\u200b"]


@pytest.mark.parametrize("bad", BIDI + INVISIBLE, ids=ascii)
def test_deceptive_display_names_in_range_files(
    kpictl, ranges_dir: Path, db_url: str, db_snapshot, bad: str
) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    acme = ranges_dir / "customers" / "acme.yaml"
    name = f"Acme{bad}Corp" if bad in BIDI else bad
    _replace(acme, "name: Acme Corp", f'name: "{name}"')
    checked = kpictl("validate", expect=1)
    assert f"error: {acme}:" in checked.stderr and " name: must " in checked.stderr, checked.stderr
    assert bad not in checked.stderr  # shown escaped, never raw
    kpictl("seed", "--all", expect=2)
    assert db_snapshot(db_url) == before


@pytest.mark.parametrize("bad", ["\u202e", "\u200f", "\u200b", "\u3164"], ids=ascii)
def test_deceptive_names_given_to_customers_add(
    kpictl, db_url: str, db_snapshot, rel, bad: str
) -> None:
    kpictl("init")
    before = db_snapshot(db_url)
    name = f"evil{bad}corp" if bad in BIDI else bad
    line = rel.assert_one_clean_error(
        kpictl("customers", "add", "evil", "--name", name, expect=None), 2
    )
    assert line.startswith("error: --name must "), line
    assert db_snapshot(db_url) == before


# Digits that Python's int() and float() take, and that are no ASCII number.
UNICODE_DIGITS = ["\u0663", "\u06f3", "\u0969", "\uff13", "\U0001d7d1", "1\u0660"]


@pytest.mark.parametrize("digits", UNICODE_DIGITS, ids=ascii)
def test_numbers_are_ascii(
    kpictl, tmp_path: Path, db_url: str, db_snapshot, rel, digits: str
) -> None:
    kpictl("init")
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    assert float(digits) >= 0  # Python reads it as a number...

    line = rel.assert_one_clean_error(
        kpictl("score", "acme", "--set", f"error_rate_pct={digits}", expect=None), 2
    )
    assert "is not a number" in line  # ...kpictl does not

    csv = tmp_path / "obs.csv"
    csv.write_text(
        f"customer,kpi_name,value,observed_at\nacme,error_rate_pct,{digits},2026-01-01T00:00:00Z\n"
    )
    line = rel.assert_one_clean_error(kpictl("observations", "import", str(csv), expect=None), 2)
    assert f"{csv}:2 column value:" in line and "is not a number" in line

    values = tmp_path / "values.yaml"
    values.write_text(f"error_rate_pct: {digits}\n")
    rel.assert_one_clean_error(kpictl("score", "acme", "--values", str(values), expect=None), 2)

    line = rel.assert_one_clean_error(
        kpictl(
            "score", "acme", "--set", "error_rate_pct=1", "--at", f"202{digits}-01-01", expect=None
        ),
        2,
    )
    assert line.startswith("error: --at:"), line
    assert db_snapshot(db_url) == before


def test_unicode_digits_in_range_file_numbers(kpictl, ranges_dir: Path) -> None:
    acme = ranges_dir / "customers" / "acme.yaml"
    _replace(acme, "version: 1", "version: \u0663")
    checked = kpictl("validate", expect=1)
    assert "version: must be a positive integer, got string" in checked.stderr


# -- output directories ----------------------------------------------------------------


@pytest.mark.parametrize("target", ["/dev/null", "a-file"])
def test_export_all_to_a_device_or_a_file(
    kpictl, tmp_path: Path, db_url: str, db_snapshot, rel, target: str
) -> None:
    kpictl("init")
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    if target == "a-file":
        path = tmp_path / "a-file"
        path.write_text("keep me\n")
        target = str(path)
    line = rel.assert_one_clean_error(
        kpictl("export", "--all", "--output-dir", target, expect=None), 2
    )
    assert target in line, line
    if target.endswith("a-file"):
        assert Path(target).read_text() == "keep me\n"
    assert db_snapshot(db_url) == before


# -- negative zero -----------------------------------------------------------------------


def test_negative_zero_weight_survives_export_and_diff(kpictl, ranges_dir: Path) -> None:
    acme = ranges_dir / "customers" / "acme.yaml"
    _replace(
        acme,
        "    weight: 2\n    playbook: usage-drop",
        "    weight: -0.0\n    playbook: usage-drop",
    )
    kpictl("validate")
    kpictl("init")
    kpictl("seed", "--all")
    kpictl("diff", "--all")  # exit 0: no difference
    exported = kpictl("export", "--customer", "acme").stdout
    # SQLite keeps a zero without its sign; PostgreSQL keeps -0.0: either is zero
    assert re.search(r"\n    weight: -?0(\.0)?\n    playbook: usage-drop\n", exported), exported
    acme.write_text(exported)
    kpictl("validate")
    kpictl("diff", "--all")
    kpictl("seed", "--all")  # nothing to apply, no refusal
    assert kpictl("export", "--customer", "acme").stdout == exported


def test_an_output_file_that_is_a_fifo_is_written_in_place(kpictl, tmp_path: Path) -> None:
    """A device or pipe given as --output-file (/dev/stdout, /dev/null) is written, never
    replaced by a file: an atomic rename over /dev/null once replaced the system's."""
    import os
    import stat
    import threading

    kpictl("init")
    kpictl("seed", "--all")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    kpictl("export", "--customer", "acme", "--output-file", str(fifo))
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received and b"customer: acme" in received[0]
