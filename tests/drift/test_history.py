"""kpictl history: the revision log, newest first."""

from __future__ import annotations

import json
import re


def test_history_newest_first_with_counts_and_sha(
    kpictl, ranges_dir, files, sql, monkeypatch
) -> None:
    kpictl("seed", "--all")
    path = ranges_dir / "customers" / "acme.yaml"
    files.edit(path, "critical: {max: 100}", "critical: {max: 90}")
    files.edit(path, "risk: {min: 100,", "risk: {min: 90,")
    files.bump(path)
    monkeypatch.setenv("KPICTL_APPLIED_BY", "ci-bot")
    kpictl("seed", "--customer", "acme")

    data = json.loads(kpictl("history", "--customer", "acme", "-o", "json").stdout)
    assert [(r["scope"], r["version"], r["adds"], r["changes"], r["removes"]) for r in data] == [
        ("acme", 2, 0, 1, 0),
        ("acme", 1, 2, 0, 0),
    ]
    assert data[0]["applied_by"] == "ci-bot"
    assert re.fullmatch(r"[0-9a-f]{64}", data[0]["sha256"])
    # one time format everywhere (issue 13 §4): ISO 8601 UTC to the second, with a Z
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data[0]["applied_at"])
    assert sql("SELECT sha256 FROM range_revisions WHERE scope = 'acme' AND version = 2") == [
        (data[0]["sha256"],)
    ]

    table = kpictl("history", "--customer", "acme").stdout
    rows = [line.split() for line in table.splitlines() if line.strip().startswith("acme")]
    assert [r[1] for r in rows] == ["v2", "v1"]
    assert rows[0][3] == "ci-bot" and rows[0][-1] == data[0]["sha256"][:12]

    everything = json.loads(kpictl("history", "-o", "json").stdout)
    assert len(everything) == 5 and everything[0]["version"] == 2
    assert json.loads(kpictl("history", "--limit", "1", "-o", "json").stdout) == everything[:1]
    defaults = json.loads(kpictl("history", "--defaults", "-o", "json").stdout)
    assert [(r["scope"], r["version"], r["adds"]) for r in defaults] == [(None, 1, 10)]
    assert "(defaults)" in kpictl("history", "--defaults").stdout


def test_history_of_an_empty_database(kpictl) -> None:
    kpictl("init")  # a read creates no database (SPEC section 7)
    assert json.loads(kpictl("history", "-o", "json").stdout) == []
    assert "no revisions recorded" in kpictl("history").stderr


def test_history_usage_errors(kpictl) -> None:
    kpictl("seed", "--all")
    assert kpictl("history", "--customer", "nobody", expect=2).stderr.startswith(
        "error: unknown customer 'nobody'"
    )
    assert "do not go together" in kpictl("history", "-c", "acme", "--defaults", expect=2).stderr
    kpictl("history", "--limit", "0", expect=2)


def test_history_csv_and_yaml(kpictl) -> None:
    kpictl("init")  # a read creates no database (SPEC section 7)
    assert kpictl("history", "-o", "csv").stdout.startswith("scope,version,applied_at,")
    kpictl("seed", "--defaults")
    lines = kpictl("history", "-o", "csv").stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith(",1,")
    assert "version: 1" in kpictl("history", "-o", "yaml").stdout
