"""Concurrent kpictl processes against one fresh database: no interleaving, no crash."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url


def test_four_seeds_at_once_on_a_fresh_database(db_url: str, ranges_dir: Path, tmp_path: Path):
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "KPICTL_DATABASE_URL": db_url,
        "KPICTL_RANGES_DIR": str(ranges_dir),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kpictl", "seed", "--all"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for code, stderr in outcomes:
        assert code == 0, stderr
        assert "Traceback" not in stderr
        assert "duplicate key" not in stderr and "UNIQUE constraint" not in stderr
    # exactly one of them applied; the others found nothing to do
    assert sum("applied:" in err for _, err in outcomes) == 1
    assert sum("nothing to do" in err for _, err in outcomes) == 3

    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM kpi_reference_ranges")).scalar()
        revisions = conn.execute(
            text("SELECT scope, version FROM range_revisions ORDER BY scope")
        ).all()
        customers = conn.execute(text("SELECT slug FROM customers ORDER BY slug")).scalars()
        customer_slugs = list(customers)
    engine.dispose()
    assert rows == 22
    assert sorted((s or "", v) for s, v in revisions) == [
        ("", 1),
        ("acme", 1),
        ("data-center", 1),
        ("globex", 1),
    ]
    assert customer_slugs == ["acme", "data-center", "globex"]

    # exactly the files': every row as the files say (diff finds nothing), and one
    # revision per file, recording that file's bytes and the rows it added
    check = subprocess.run(
        [sys.executable, "-m", "kpictl", "diff", "--all"], env=env, cwd=tmp_path, timeout=60
    )
    assert check.returncode == 0
    history = subprocess.run(
        [sys.executable, "-m", "kpictl", "history", "-o", "json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    logged = {
        (r["scope"], r["sha256"], r["adds"], r["changes"], r["removes"])
        for r in json.loads(history.stdout)
    }
    files = {
        None: ranges_dir / "defaults.yaml",
        **{p.stem: p for p in (ranges_dir / "customers").glob("*.yaml")},
    }
    adds = {None: 10, "acme": 2, "data-center": 10, "globex": 0}
    assert logged == {
        (scope, hashlib.sha256(path.read_bytes()).hexdigest(), adds[scope], 0, 0)
        for scope, path in files.items()
    }
