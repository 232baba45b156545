"""Numbers at the edges of a float (issue 14 section 3), attacked through the real CLI on
SQLite and PostgreSQL: a score is a finite number or the customer is refused with a
reason; ``-o json`` is always valid JSON; ``--fail-under`` never passes a number that
is not one; ``score --all --save`` never stores NaN or infinity; integers of thousands
of digits are bad input (exit 2), never an unexpected error."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url

HUGE = "1.7e308"  # finite; twice it is not


def strict_json(text_: str) -> object:
    """json.loads that refuses NaN and Infinity, as every JSON parser but Python's does."""

    def refuse(token: str) -> object:
        raise AssertionError(f"not JSON: {token}")

    return json.loads(text_, parse_constant=refuse)


def scores_stored(db_url: str) -> list[tuple[str, float, str]]:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.slug, s.score, s.status FROM health_scores s "
                    "JOIN customers c USING (customer_id) ORDER BY c.slug"
                )
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]
    finally:
        engine.dispose()


def customer_file(ranges_dir: Path, slug: str, body: str) -> None:
    (ranges_dir / "customers" / f"{slug}.yaml").write_text(
        f"apiVersion: kpictl/v1\ncustomer: {slug}\nversion: 1\n{body}"
    )


@pytest.fixture
def edges(kpictl, ranges_dir: Path):
    """Customers whose numbers sit at the edge of a float: a regression of +2 and -2
    over values near 1e308 (``opposed``), ranges of weight 1e308 (``heavy``), and an
    ordinary customer (acme) beside them."""
    customer_file(
        ranges_dir,
        "opposed",
        "scoring:\n  model: regression\n  intercept: 50\n"
        "  coefficients: {daily_invocations: 2, invocations_30d: -2}\n"
        "ranges: {}\n",
    )
    customer_file(
        ranges_dir,
        "heavy",
        "scoring: {model: ranges, min_coverage: 0}\n"
        "ranges:\n"
        "  daily_invocations:\n"
        "    critical: {max: 500}\n    risk: {min: 500, max: 2000}\n    healthy: {min: 2000}\n"
        "    weight: 1e308\n"
        "  error_rate_pct:\n"
        "    critical: {min: 5}\n    risk: {min: 1, max: 5}\n    healthy: {max: 1}\n"
        "    weight: 1e308\n",
    )
    kpictl("seed", "--all")
    rows = "customer,kpi_name,value,observed_at\n"
    rows += f"opposed,daily_invocations,{HUGE},2026-11-20T00:00:00Z\n"
    rows += f"opposed,invocations_30d,-{HUGE},2026-11-20T00:00:00Z\n"
    rows += "heavy,daily_invocations,100,2026-11-20T00:00:00Z\n"  # critical: 0 points
    rows += "heavy,error_rate_pct,0.5,2026-11-20T00:00:00Z\n"  # healthy: 100 points
    for kpi, value in (("daily_invocations", 2500), ("error_rate_pct", 0.2)):
        rows += f"acme,{kpi},{value},2026-11-20T00:00:00Z\n"
    kpictl("observations", "import", "-", input=rows)
    return kpictl


def test_a_regression_that_overflows_is_refused_with_a_reason(edges) -> None:
    result = edges("score", "opposed", "-o", "json", expect=2)
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot score opposed")
    assert "range of a float" in result.stderr and "unexpected" not in result.stderr
    # values that stay in range: the same model scores them
    edges("score", "opposed", "--set", "daily_invocations=1e300", "--set", "invocations_30d=1e300")
    data = strict_json(
        edges(
            "score",
            "opposed",
            "--set",
            "daily_invocations=1e300",
            "--set",
            "invocations_30d=1e300",
            "-o",
            "json",
        ).stdout
    )
    assert data["score"] == 50  # type: ignore[index]


def test_a_weight_of_1e308_gives_the_mean_not_infinity(edges) -> None:
    data = strict_json(edges("score", "heavy", "--explain", "-o", "json").stdout)
    assert data["score"] == 50  # type: ignore[index]  # one healthy, one critical, equal weights
    assert data["status"] == "risk"  # type: ignore[index]
    assert 0 <= data["coverage"] <= 1  # type: ignore[index]
    assert data["explain"]["weights_divided_by"] == 1e308  # type: ignore[index]
    table = edges("score", "heavy", "--explain").stdout
    assert "score 50" in table and "inf" not in table and "nan" not in table


def test_score_all_json_is_valid_and_lists_the_refused_customer(edges) -> None:
    listed = strict_json(edges("score", "--all", "-o", "json").stdout)
    by_customer = {s["customer"]: s for s in listed}  # type: ignore[union-attr]
    assert by_customer["opposed"]["score"] is None
    assert "range of a float" in by_customer["opposed"]["reason"]
    assert by_customer["heavy"]["score"] == 50
    for summary in listed:  # type: ignore[union-attr]
        assert summary["score"] is None or math.isfinite(summary["score"])
    table = edges("score", "--all").stdout
    assert "nan" not in table.lower().split() and "inf" not in table.lower().split()


@pytest.mark.parametrize("threshold", ["nan", "NaN", "inf", "-inf"])
def test_fail_under_takes_finite_numbers_only(edges, threshold: str) -> None:
    result = edges("score", "--all", "--fail-under", threshold, expect=2)
    assert "--fail-under" in result.output and "finite" in result.output


def test_fail_under_never_passes_a_customer_without_a_finite_score(edges) -> None:
    # opposed has no score (refused); heavy scores 50: a threshold of 60 fails on heavy
    result = edges("score", "--all", "--fail-under", "60", "--allow-insufficient", expect=1)
    assert "heavy (50)" in result.output
    assert "opposed" in result.stderr  # listed as not scored, with its reason on stdout


def test_score_all_save_never_stores_nan_or_infinity(edges, db_url: str) -> None:
    edges("score", "--all", "--save")
    stored = scores_stored(db_url)
    slugs = [slug for slug, _score, _status in stored]
    assert "opposed" not in slugs and "heavy" in slugs
    assert all(math.isfinite(score) for _slug, score, _status in stored), stored
    assert dict((s, v) for s, v, _ in stored)["heavy"] == 50


@pytest.mark.parametrize("digits", [400, 5000, 100_000])
@pytest.mark.parametrize("suffix", [".yaml", ".json", ".csv"])
def test_an_integer_of_thousands_of_digits_in_values_is_bad_input(
    edges, tmp_path: Path, digits: int, suffix: str
) -> None:
    number = "9" * digits
    path = tmp_path / f"values{suffix}"
    if suffix == ".yaml":
        path.write_text(f"monthly_spend: {number}\n")
    elif suffix == ".json":
        path.write_text(f'{{"monthly_spend": {number}}}')
    else:
        path.write_text(f"kpi_name,value\nmonthly_spend,{number}\n")
    result = edges("score", "acme", "--values", str(path), expect=2)
    assert result.stderr.startswith("error: --values"), result.stderr[:300]
    assert "unexpected" not in result.stderr


@pytest.mark.parametrize("digits", [400, 5000, 100_000])
def test_an_integer_of_thousands_of_digits_in_set_is_bad_input(edges, digits: int) -> None:
    result = edges("score", "acme", "--set", f"monthly_spend={'9' * digits}", expect=2)
    assert result.stderr.startswith("error: --set")
    assert "unexpected" not in result.stderr


def test_a_saved_score_that_is_not_finite_is_no_previous_score(edges, db_url: str) -> None:
    # what an older kpictl saved on PostgreSQL (NaN, infinity), or a hand edit: never
    # the trend a card compares with, and never a NaN in the JSON
    from datetime import datetime, timezone

    from sqlalchemy import insert, select

    from kpictl.db.schema import customers, health_scores

    bad = [math.inf, -math.inf] + ([math.nan] if db_url.startswith("postgresql") else [])
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            customer_id = conn.execute(
                select(customers.c.customer_id).where(customers.c.slug == "acme")
            ).scalar_one()
            rows = [(datetime(2026, 11, 21, tzinfo=timezone.utc), 42.0)]
            rows += [(datetime(2026, 11, 22, i, tzinfo=timezone.utc), v) for i, v in enumerate(bad)]
            conn.execute(
                insert(health_scores),
                [
                    {
                        "customer_id": customer_id,
                        "computed_at": at,
                        "model": "ranges",
                        "score": score,
                        "status": "healthy",
                    }
                    for at, score in rows
                ],
            )
    finally:
        engine.dispose()
    data = strict_json(edges("score", "acme", "--at", "2026-11-23", "-o", "json").stdout)
    assert data["previous"]["score"] == 42  # type: ignore[index]
