"""score --all against the per-customer scorer, on a varied platform: both models, own
and default points, gaps, KPIs without a range, weights of 0, odd values, customers
without observations, own health_score ranges, malformed stored models, the defaults
file filling a KPI the database lacks. Every customer's line of ``score --all`` must be
what ``score SLUG`` gives, in the worst-first order; the JSON and the table are checked
line by line against the summaries."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, insert
from sqlalchemy.pool import NullPool

from kpictl import api, scoring
from kpictl.db.engine import driver_url
from kpictl.db.schema import customers, kpi_observations, kpi_reference_ranges, range_revisions
from kpictl.errors import KpictlError
from kpictl.scoring import verbs as scores
from kpictl.settings import Settings

AT = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
KPIS = (
    "daily_invocations",
    "invocations_30d",
    "invocation_velocity_change_pct",
    "monthly_spend",
    "days_since_last_invocation",
    "error_rate_pct",
    "p95_latency_ms",
    "avg_execution_time_sec",
    "cold_start_pct",
)
MODELS = [
    None,
    {"model": "ranges"},
    {"model": "ranges", "points": {"healthy": 90, "risk": 33.3, "critical": 5}},
    {"model": "ranges", "points": {"risk": 61.7}},
    {"model": "regression", "intercept": 52.14, "coefficients": {"error_rate_pct": -3.1}},
    {
        "model": "regression",
        "intercept": 10.5,
        "coefficients": {"monthly_spend": 0.013, "p95_latency_ms": -0.021},
        "clamp": {"min": 5, "max": 95},
    },
    {"model": "regression", "intercept": 0.1, "coefficients": {"health_score": 1.0}},
    {"model": "ranges", "points": "not a mapping"},  # malformed: a reason, not a crash
]
DEFAULT_MODELS = [
    None,
    {"model": "ranges", "points": {"healthy": 100, "risk": 40, "critical": 10}},
    {"model": "regression", "intercept": 40.0, "coefficients": {"daily_invocations": 0.001}},
]


LOWS = (1.0, 2.5, 10.0, 50.0, 100.0)
SPANS = (1.0, 5.0, 40.0, 1000.0)
EDGES = sorted({x for lo in LOWS for sp in SPANS for x in (lo, lo + sp, lo + sp * 1.25)})


def _band_row(rng: random.Random, kpi: str, *, gap: bool) -> dict[str, object]:
    low = rng.choice(LOWS)
    span = rng.choice(SPANS)
    hole = span / 2 if gap else 0.0
    return {
        "kpi_name": kpi,
        "critical_min": None,
        "critical_max": low,
        "risk_min": low,
        "risk_max": low + span,
        "healthy_min": low + span + hole,
        "healthy_max": None,
        "weight": rng.choice([0.0, 0.1, 0.7, 1.0, 1.0, 2.0, 2.5, 3.0]),
        "playbook": rng.choice([None, "usage-drop", "churn-risk"]),
    }


def build_platform(db_url: str, ranges_dir: Path, *, seed: int, default_model: object) -> Settings:
    """The shipped ranges seeded, then 70 generated customers written straight into the
    tables (as another program might)."""
    rng = random.Random(seed)
    settings = Settings(database_url=db_url, ranges_dir=ranges_dir)
    api.seed(settings, all=True)
    # the defaults file fills cold_start_pct once the database row is gone
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    is_pg = engine.dialect.name == "postgresql"
    odd_values = [math.inf, -math.inf, 1e300, -0.0, 0.0] + ([math.nan] if is_pg else [])
    slugs = [f"c{i:03d}" for i in range(60)] + ["z-a", "za", "z0", "z-", "zz", "z"]
    slugs += ["y-1", "y1", "y-0", "y"]
    rng.shuffle(slugs)
    try:
        with engine.begin() as conn:
            conn.execute(
                delete(kpi_reference_ranges).where(
                    kpi_reference_ranges.c.customer_id.is_(None),
                    kpi_reference_ranges.c.kpi_name == "cold_start_pct",
                )
            )
            if default_model is not None:
                conn.execute(insert(range_revisions), [_revision(None, default_model)])
            base = 1000
            conn.execute(
                insert(customers),
                [
                    {"customer_id": base + i, "slug": slug, "name": slug.upper()}
                    for i, slug in enumerate(slugs)
                ],
            )
            ranges, observations, revisions = [], [], []
            for i, _slug in enumerate(slugs):
                cid = base + i
                kind = i % 10
                own_rows: list[dict[str, object]] = []
                own = rng.sample(KPIS, rng.randint(1 if kind in (2, 3) else 0, 4))
                for kpi in own:
                    row = _band_row(rng, kpi, gap=rng.random() < 0.4)
                    if kind == 2:
                        row["weight"] = 0.0  # all it has a value for weighs nothing
                    own_rows.append({"customer_id": cid, **row})
                ranges += own_rows
                if kind == 4:  # a score in the gap of its health_score bands: unknown
                    ranges.append(
                        {"customer_id": cid, **_band_row(rng, "health_score", gap=False)}
                        | {"critical_max": 1.0, "risk_min": 1.0, "risk_max": 2.0}
                        | {"healthy_min": 99.9, "weight": 1.0}
                    )
                elif rng.random() < 0.25:
                    ranges.append(
                        {
                            "customer_id": cid,
                            **_band_row(rng, "health_score", gap=rng.random() < 0.5),
                            "weight": 1.0,
                        }
                    )
                if kind == 0:
                    continue  # no observations at all
                if kind == 3:  # values only in gaps, or for a KPI without a range
                    for row in own_rows:
                        row["healthy_min"] = 1e6
                    for kpi in [*own, "mystery_kpi"]:
                        observations.append(
                            {"customer_id": cid, "kpi_name": kpi, "observed_at": AT, "value": 5e5}
                        )
                    continue
                names = own if kind == 2 else list(rng.sample(KPIS, rng.randint(0, len(KPIS))))
                if rng.random() < 0.2:
                    names.append("health_score")
                if rng.random() < 0.2:
                    names.append("mystery_kpi")  # no range anywhere
                for kpi in names:
                    for t in range(rng.randint(1, 3)):
                        if rng.random() < 0.05:
                            value = rng.choice(odd_values)
                        elif rng.random() < 0.4:
                            value = rng.choice(EDGES)  # on a bound, or in a gap
                        else:
                            value = round(rng.uniform(-50, 3000), rng.choice([0, 1, 3]))
                        when = AT - timedelta(days=rng.randint(0, 40), seconds=t)
                        if rng.random() < 0.15:
                            when = AT + timedelta(days=1 + t)  # after --at: not used
                        observations.append(
                            {
                                "customer_id": cid,
                                "kpi_name": kpi,
                                "observed_at": when,
                                "value": value,
                            }
                        )
                if rng.random() < 0.35:
                    revisions.append(_revision(cid, rng.choice(MODELS)))
            conn.execute(insert(kpi_reference_ranges), ranges)
            seen: set[tuple[object, ...]] = set()
            unique = []
            for row in observations:
                key = (row["customer_id"], row["kpi_name"], row["observed_at"])
                if key not in seen:
                    seen.add(key)
                    unique.append(row)
            conn.execute(insert(kpi_observations), unique)
            if revisions:
                conn.execute(insert(range_revisions), revisions)
    finally:
        engine.dispose()
    return settings


def _revision(customer_id: int | None, model: object) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "scope": None if customer_id is None else f"generated-{customer_id}",
        "version": 99,
        "sha256": "0" * 64,
        "content_sha256": "0" * 64,
        "applied_by": "test",
        "scoring": model,
        "content": {},
    }


def worst_first(summaries: list[scoring.Summary]) -> list[scoring.Summary]:
    """Lowest score first; customers that could not be scored after the scored ones."""
    return sorted(
        summaries,
        key=lambda s: (s.score is None, s.score if s.score is not None else 0.0, s.customer),
    )


def one_by_one(settings: Settings, at: datetime) -> list[scoring.Summary]:
    """Every customer scored by ``score SLUG``'s code path, worst first."""
    engine = create_engine(driver_url(settings.database_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            slugs = [row.slug for row in conn.execute(customers.select())]
    finally:
        engine.dispose()
    out = []
    for slug in slugs:
        try:
            card = scores.score_customer(settings, slug, at=at)
        except KpictlError as exc:
            # score SLUG says which customer and when; score --all lists the reason alone
            reason = exc.message.removeprefix(f"cannot score {slug} at {scoring.iso(at)}: ")
            out.append(scoring.Summary(slug, _model_name(settings, slug), None, None, reason))
            continue
        out.append(
            scoring.Summary(
                slug,
                card.model,
                card.score,
                card.status,
                alerts=len(card.alerts),
                coverage=card.coverage,
            )
        )
    return worst_first(out)


def _model_name(settings: Settings, slug: str) -> str:
    # the model a customer that cannot be scored is listed with: its stored section's
    engine = create_engine(driver_url(settings.database_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = list(
                conn.execute(range_revisions.select().order_by(range_revisions.c.revision_id))
            )
            ids = {r.slug: r.customer_id for r in conn.execute(customers.select())}
    finally:
        engine.dispose()
    own = [r.scoring for r in rows if r.customer_id == ids[slug]]
    default = [r.scoring for r in rows if r.customer_id is None]
    data = (own[-1] if own else None) or (default[-1] if default else None) or {}
    return str(data.get("model", "ranges"))


def _same(a: scoring.Summary, b: scoring.Summary) -> bool:
    def key(s: scoring.Summary) -> tuple[object, ...]:
        score = "nan" if s.score is not None and math.isnan(s.score) else s.score
        return (
            s.customer,
            s.model,
            score,
            s.status,
            s.reason,
            s.alerts if s.score is not None else 0,
            s.coverage,
        )

    return key(a) == key(b)


@pytest.mark.parametrize("default_model", DEFAULT_MODELS, ids=["no-model", "points", "regression"])
@pytest.mark.parametrize("seed", [1, 2])
def test_score_all_agrees_with_scoring_each_customer(
    db_url, ranges_dir, seed: int, default_model: object
) -> None:
    settings = build_platform(db_url, ranges_dir, seed=seed, default_model=default_model)
    expected = one_by_one(settings, AT)
    result = scores.score_all(settings, at=AT)
    got = list(result.summaries)
    assert len(got) == len(expected) == 73
    mismatched = [(g, e) for g, e in zip(got, expected, strict=True) if not _same(g, e)]
    assert not mismatched, mismatched[:5]
    assert {s.model for s in got} >= {"ranges"}
    assert any(s.score is None for s in got) and any(s.score is not None for s in got)


def test_score_all_json_and_table_list_every_summary(db_url, ranges_dir, kpictl) -> None:
    settings = build_platform(db_url, ranges_dir, seed=3, default_model=None)
    expected = one_by_one(settings, AT)
    at = "2026-11-28T12:00:00Z"
    rows = json.loads(kpictl("score", "--all", "--at", at, "-o", "json").stdout)
    assert [r["customer"] for r in rows] == [s.customer for s in expected]
    assert rows == json.loads(json.dumps([_json(s.as_dict()) for s in expected]))
    table = kpictl("score", "--all", "--at", at).stdout.splitlines()
    assert table[0] == f"health scores at {at}, worst first"
    assert table[1].split() == [
        "customer",
        "score",
        "status",
        "coverage",
        "model",
        "alerts",
        "reason",
    ]
    assert [line.split()[0] for line in table[3:]] == [s.customer for s in expected]


def _json(value: object) -> object:
    from kpictl.render import json_value

    return json_value(value)
