"""Different writers at once, as separate processes: they take turns on kpictl's write
lock, so each sees the database before or after the other, never half of it.

(Four identical seeds at once on a fresh database: tests/cli/test_concurrency.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "observations.csv"


def start(db_url: str, ranges_dir: Path, cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "KPICTL_DATABASE_URL": db_url,
        "KPICTL_RANGES_DIR": str(ranges_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kpictl", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    outcomes = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        outcomes.append((proc.returncode, stdout, stderr))
    for code, _stdout, stderr in outcomes:
        assert code == 0, stderr
        assert "Traceback" not in stderr and "error:" not in stderr, stderr
    return outcomes


def saved_scores(db_url: str, at: str) -> dict[str, float]:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.slug, h.score, h.computed_at FROM health_scores h "
                    "JOIN customers c ON c.customer_id = h.customer_id"
                )
            ).all()
    finally:
        engine.dispose()
    wanted = at.replace("Z", "")
    return {
        slug: round(score, 6)
        for slug, score, computed_at in rows
        if str(computed_at).replace(" ", "T").startswith(wanted)
    }


def scores_now(kpictl, at: str) -> dict[str, float]:
    result = kpictl("score", "--all", "--at", at, "-o", "json")
    return {s["customer"]: round(s["score"], 6) for s in json.loads(result.stdout) if s["score"]}


def test_a_seed_and_score_all_save_at_once(kpictl, ranges_dir, db_url, tmp_path) -> None:
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    acme = ranges_dir / "customers" / "acme.yaml"
    original = acme.read_text()
    # Each round's seed moves acme's error rate (1.1) between risk and healthy, so the
    # scores saved tell whether score --all ran before the seed or after it.
    edits = [
        (
            "risk: {min: 0.5, max: 2}",
            "risk: {min: 1.5, max: 2}",
            "healthy: {max: 0.5}",
            "healthy: {max: 1.5}",
        ),
        (
            "risk: {min: 1.5, max: 2}",
            "risk: {min: 0.5, max: 2}",
            "healthy: {max: 1.5}",
            "healthy: {max: 0.5}",
        ),
        (
            "risk: {min: 0.5, max: 2}",
            "risk: {min: 1.5, max: 2}",
            "healthy: {max: 0.5}",
            "healthy: {max: 1.5}",
        ),
    ]
    for round_, (old_risk, new_risk, old_healthy, new_healthy) in enumerate(edits, start=2):
        at = f"2026-11-28T0{round_}:00:00Z"
        before = scores_now(kpictl, at)
        text_now = acme.read_text() if round_ > 2 else original
        acme.write_text(
            text_now.replace(f"version: {round_ - 1}", f"version: {round_}")
            .replace(old_risk, new_risk)
            .replace(old_healthy, new_healthy)
        )
        procs = [
            start(db_url, ranges_dir, tmp_path, "seed", "--all"),
            start(db_url, ranges_dir, tmp_path, "score", "--all", "--save", "--at", at),
        ]
        seeded, scored = finish(procs)
        assert "applied: 0 added, 1 changed, 0 removed" in seeded[2]
        assert "saved 3 score(s)" in scored[2]
        after = scores_now(kpictl, at)
        assert before != after  # the seed did change acme's score
        assert saved_scores(db_url, at) in (before, after)  # all before, or all after
    kpictl("diff", "--all")


def test_every_kind_of_writer_at_once(kpictl, ranges_dir, db_url, tmp_path) -> None:
    """Two seeds, an import, a score --all --save and a customers add, all at once on a
    database in use: every one succeeds, and the end state is each one's work."""
    kpictl("seed", "--all")
    kpictl("observations", "import", str(SAMPLES))
    acme = ranges_dir / "customers" / "acme.yaml"
    acme.write_text(
        acme.read_text().replace("version: 1", "version: 2").replace("weight: 3", "weight: 5")
    )
    more = tmp_path / "more.csv"
    more.write_text(
        "customer,kpi_name,value,observed_at\n"
        + "".join(f"globex,error_rate_pct,{i / 10},2026-11-29T{i:02d}:00:00Z\n" for i in range(24))
    )
    procs = [
        start(db_url, ranges_dir, tmp_path, "seed", "--all"),
        start(db_url, ranges_dir, tmp_path, "observations", "import", str(more)),
        start(db_url, ranges_dir, tmp_path, "score", "--all", "--save", "--at", "2026-11-28"),
        start(db_url, ranges_dir, tmp_path, "seed", "--all"),
        start(db_url, ranges_dir, tmp_path, "customers", "add", "initech", "--name", "Initech"),
    ]
    outcomes = finish(procs)
    applied = [err for _code, _out, err in outcomes if "applied:" in err]
    assert len(applied) == 1, outcomes  # one seed applied, the other found nothing to do
    kpictl("diff", "--all", expect=1)  # only initech, a customer without a file, differs
    result = kpictl("observations", "list", "--customer", "globex", "--kpi", "error_rate_pct")
    assert result.stdout.count("2026-11-29") == 24
    assert len(saved_scores(db_url, "2026-11-28")) == 3
    listed = kpictl("customers", "list", "-o", "json")
    assert {c["slug"] for c in json.loads(listed.stdout)} == {
        "acme",
        "data-center",
        "globex",
        "initech",
    }
