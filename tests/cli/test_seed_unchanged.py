"""Unchanged files are recognised by their recorded sha256 and not parsed again, while
hand edits in the database and catalog changes are still caught."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url
from kpictl.rangefiles import parallel  # the one loading pipeline parses files there


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The range files (not the catalog) that kpictl parses, in this process."""
    seen: list[str] = []
    real = parallel.load_range_file

    def counting(path, catalog, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(path.name)
        return real(path, catalog, **kwargs)

    monkeypatch.setattr(parallel, "load_range_file", counting)
    monkeypatch.setenv("KPICTL_SERIAL", "1")  # parse in this process, where we count
    return seen


def execute(db_url: str, sql: str) -> None:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def test_a_second_seed_parses_no_file(kpictl, parsed) -> None:
    kpictl("seed", "--all")
    assert sorted(parsed) == ["acme.yaml", "data-center.yaml", "defaults.yaml", "globex.yaml"]
    parsed.clear()
    again = kpictl("seed", "--all")
    assert parsed == []
    assert "4 scopes unchanged" in again.stdout
    assert "nothing to do" in again.stderr


def test_a_hand_edit_is_still_repaired(kpictl, db_url, parsed, db_snapshot) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)["kpi_reference_ranges"]
    execute(
        db_url,
        "UPDATE kpi_reference_ranges SET risk_max = 4 "
        "WHERE customer_id IS NULL AND kpi_name = 'error_rate_pct'",
    )
    parsed.clear()
    result = kpictl("seed", "--all")
    assert parsed == ["defaults.yaml"]  # only the scope whose rows no longer match
    assert "~ error_rate_pct: risk_max: 4 -> 5" in result.stdout
    assert "3 scopes unchanged" in result.stdout
    after = db_snapshot(db_url)["kpi_reference_ranges"]

    # the same rows and values again (updated_at aside)
    def values(rows):  # type: ignore[no-untyped-def]
        return sorted(r[:11] for r in rows)

    assert values(after) == values(before)


def test_a_catalog_change_makes_every_file_parsed_again(kpictl, ranges_dir, parsed) -> None:
    kpictl("seed", "--all")
    catalog = ranges_dir / "kpis.yaml"
    catalog.write_text(catalog.read_text() + "# reviewed\n")
    parsed.clear()
    kpictl("seed", "--all")
    assert len(parsed) == 4


def test_a_changed_file_alone_is_parsed(kpictl, ranges_dir, parsed) -> None:
    kpictl("seed", "--all")
    path = ranges_dir / "customers" / "globex.yaml"
    path.write_text(path.read_text() + "# a comment\n")
    parsed.clear()
    kpictl("seed", "--all")
    assert parsed == ["globex.yaml"]


ACME = "(SELECT customer_id FROM customers WHERE slug = 'acme')"


@pytest.mark.parametrize(
    ("edit", "shown"),
    [
        (  # the smallest change a float can take
            f"UPDATE kpi_reference_ranges SET risk_max = risk_max * (1 + 1e-15) "
            f"WHERE customer_id = {ACME} AND kpi_name = 'error_rate_pct'",
            "~ error_rate_pct: risk_max:",
        ),
        (
            f"UPDATE kpi_reference_ranges SET healthy_max = NULL "
            f"WHERE customer_id = {ACME} AND kpi_name = 'error_rate_pct'",
            "~ error_rate_pct: healthy_max:",
        ),
        (
            f"UPDATE kpi_reference_ranges SET weight = weight + 1 "
            f"WHERE customer_id = {ACME} AND kpi_name = 'error_rate_pct'",
            "~ error_rate_pct: weight:",
        ),
        (
            f"UPDATE kpi_reference_ranges SET playbook = 'hand-made' "
            f"WHERE customer_id = {ACME} AND kpi_name = 'error_rate_pct'",
            "~ error_rate_pct: playbook:",
        ),
        (
            f"DELETE FROM kpi_reference_ranges "
            f"WHERE customer_id = {ACME} AND kpi_name = 'error_rate_pct'",
            "+ error_rate_pct:",
        ),
        (
            f"INSERT INTO kpi_reference_ranges (customer_id, kpi_name, healthy_min, weight, "
            f"updated_at) VALUES ({ACME}, 'monthly_spend', 1, 1, CURRENT_TIMESTAMP)",
            "= monthly_spend: kept",
        ),
        (
            "UPDATE customers SET name = 'Acme By Hand' WHERE slug = 'acme'",
            "~ customer name: 'Acme By Hand' -> 'Acme Corp'",
        ),
    ],
    ids=["tiny-float", "null", "weight", "playbook", "deleted-row", "added-row", "name"],
)
def test_every_kind_of_hand_edit_is_caught(kpictl, db_url, parsed, edit, shown) -> None:
    """On PostgreSQL the unchanged scopes are confirmed in the database (rows against
    the revision's content), on SQLite by hashing the rows: both catch every edit."""
    kpictl("seed", "--all")
    execute(db_url, edit)
    parsed.clear()
    result = kpictl("seed", "--all")
    assert parsed == ["acme.yaml"]  # that scope alone is parsed and planned again
    assert shown in result.stdout, result.stdout
    assert "3 scopes unchanged" in result.stdout


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_unconfirmed_scopes_checks_the_recorded_hashes(kpictl, db_url) -> None:
    """PostgreSQL's in-database confirmation: a scope whose latest revision records
    other hashes than the files had when first looked at (a seed in between), or that
    has no revision, is not confirmed; the others are."""
    from kpictl import store

    kpictl("seed", "--all")
    kpictl("customers", "add", "initech", "--name", "Initech")
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    with engine.connect() as conn:
        ids = {slug: c.customer_id for slug, c in store.customers_by_slug(conn).items()}
        hashes = {
            (ids[slug] if slug else None): recorded
            for slug, recorded in store.recorded_file_hashes(conn, None, defaults=True).items()
        }
        assert len(hashes) == 4 and store.unconfirmed_scopes(conn, hashes) == set()
        sha, catalog_sha = hashes[ids["acme"]]
        changed = {**hashes, ids["acme"]: ("0" * 64, catalog_sha)}
        assert store.unconfirmed_scopes(conn, changed) == {ids["acme"]}
        other_catalog = {**hashes, None: (hashes[None][0], "1" * 64)}
        assert store.unconfirmed_scopes(conn, other_catalog) == {None}
        no_revision = {**hashes, ids["initech"]: (sha, catalog_sha)}
        assert store.unconfirmed_scopes(conn, no_revision) == {ids["initech"]}
    engine.dispose()
