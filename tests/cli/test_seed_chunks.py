"""A seed reads, plans and writes its files a chunk at a time, inside one transaction:
with more customers than one chunk it is still all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kpictl.seeding import apply as applying
from kpictl.seeding import chunked as seeding

CUSTOMER = """\
apiVersion: kpictl/v1
customer: {slug}
name: Customer {slug}
version: {version}
ranges:
  error_rate_pct:
    critical: {{min: {risk_max}}}
    risk: {{min: 0.5, max: {risk_max}}}
    healthy: {{max: 0.5}}
"""

NEW = [f"new-{i}" for i in range(5)]


@pytest.fixture
def chunks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Chunks of two scopes; returns the size of each chunk planned, as it is planned."""
    monkeypatch.setattr(seeding, "SEED_CHUNK", 2)
    planned: list[int] = []
    real = seeding.build_plan

    def counting(conn, files, **kwargs):  # type: ignore[no-untyped-def]
        planned.append(len(files) + len(kwargs.get("unchanged") or ()))
        return real(conn, files, **kwargs)

    monkeypatch.setattr(seeding, "build_plan", counting)
    return planned


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of scopes of each chunk written (inside the transaction)."""
    chunks: list[int] = []
    real = applying.apply_plan

    def counting(conn, plan, *args, **kwargs):  # type: ignore[no-untyped-def]
        chunks.append(len(plan.scopes))
        return real(conn, plan, *args, **kwargs)

    monkeypatch.setattr(applying, "apply_plan", counting)
    return chunks


def write_customer(ranges_dir: Path, slug: str, *, version: int = 1, risk_max: int = 2) -> None:
    text = CUSTOMER.format(slug=slug, version=version, risk_max=risk_max)
    (ranges_dir / "customers" / f"{slug}.yaml").write_text(text)


def test_a_chunked_seed_applies_every_file_once(kpictl, ranges_dir, chunks) -> None:
    for slug in NEW:
        write_customer(ranges_dir, slug)
    result = kpictl("seed", "--all")
    # defaults, acme, data-center, globex and five new customers: five chunks
    assert chunks == [2, 2, 2, 2, 1]
    assert result.stdout.count("+ create customer new-") == 5
    assert "Plan: 27 to add, 0 to change, 0 to remove." in result.stdout
    assert result.stdout.index("customer acme") < result.stdout.index("customer new-4")
    assert "applied: 27 added" in result.stderr
    again = kpictl("seed", "--all")
    assert "9 scopes unchanged" in again.stdout
    assert "nothing to do" in again.stderr


def test_a_chunked_plan_is_one_json_document(kpictl, ranges_dir, chunks) -> None:
    for slug in NEW:
        write_customer(ranges_dir, slug)
    result = kpictl("seed", "--all", "--dry-run", "-o", "json")
    assert len(chunks) == 5
    data = json.loads(result.stdout)
    assert (data["applied"], data["dry_run"]) == (False, True)
    assert len(data["changes"]) == 27
    assert {None, "acme", "data-center", *NEW} <= {c["scope"] for c in data["changes"]}


@pytest.mark.parametrize("last", ["zz-invalid", "zy-refused"])
def test_a_bad_file_in_the_last_chunk_leaves_the_database_as_it_was(
    kpictl, ranges_dir, db_url, db_snapshot, chunks, written, last: str
) -> None:
    for slug in NEW:
        write_customer(ranges_dir, slug)
    write_customer(ranges_dir, "zy-refused", version=2)
    kpictl("seed", "--all")
    before = db_snapshot(db_url)

    # every chunk before the last one has something to write: new customers, changed rows
    for slug in NEW:
        write_customer(ranges_dir, slug, version=2, risk_max=3)
    write_customer(ranges_dir, "new-9")
    if last == "zz-invalid":
        path = ranges_dir / "customers" / "zz-invalid.yaml"
        path.write_text(CUSTOMER.format(slug=last, version=1, risk_max="two"))
    else:  # a lower version than the recorded one
        write_customer(ranges_dir, last, version=1, risk_max=3)
    chunks.clear()
    written.clear()

    if last == "zz-invalid":
        result = kpictl("seed", "--all", expect=2)
        assert "customers/zz-invalid.yaml:7 ranges.error_rate_pct.critical.min:" in result.stderr
        assert "Plan:" not in result.stdout  # no plan is shown for invalid files
    else:
        result = kpictl("seed", "--all", expect=1)
        assert "zy-refused.yaml: version 1 is below the recorded version 2" in result.stderr
        assert "~ error_rate_pct: critical_min: 2 -> 3, risk_max: 2 -> 3" in result.stdout
        assert "Plan: 1 to add, 6 to change, 0 to remove." in result.stdout
    assert chunks[:5] == [2, 2, 2, 2, 2]  # the chunks before the last were planned
    assert len(written) == 3  # new-0 to new-4 and new-9 were written, then rolled back
    assert "nothing was applied" in result.stderr
    assert db_snapshot(db_url) == before
