"""Benchmark of kpictl at platform scale: ``python -m benchmarks [--quick]`` from the
repository's root (``make bench``, ``make bench-quick``). A developer program: it is not
part of the kpictl package. The KPIs are those of ``ranges/kpis.yaml``.

Every step runs the real ``kpictl`` command in a fresh process and, in the same run, a
baseline that does the same work as directly as the tools allow; it prints the data
size, the median of several runs of each, their ratio, and the peak RSS of kpictl.
Machines here are shared and noisy: compare ratios, not seconds.

Steps (``--steps``, comma-separated; all by default):

- ``startup``: ``--version``, ``--help``, ``validate`` of one file, ``list --customer``
  (SQLite), each against ``python -c pass``;
- ``files``: ``validate`` of every file against the C YAML loader; ``seed --all`` on an
  empty PostgreSQL database against C-loader parse + ``COPY``; ``seed --all`` again,
  nothing changed, against the parse alone;
- ``isolation``: ``verify-isolation`` on N customers with a range row per KPI each (written
  with ``INSERT ... SELECT generate_series`` after ``kpictl init``) against (a) the same
  checks as hand-written set-based SQL and (b) the original design's loop, two queries
  per customer (at full size measured on a sample of customers and extrapolated);
- ``score``: ``score --all`` (``-o table``, the default, and ``-o json``) on N customers
  with one observation per KPI each against one hand-written SQL query for the
  ranges-model scores;
- ``import``: ``observations import`` of a CSV (every KPI, ten times per KPI) against
  psycopg2 ``COPY`` of the same file into a staging table and one ``INSERT ... SELECT``
  joining customers for the customer_id.

The database steps run at two sizes, N and ten times N (full: N/10 and N), so that the
peak RSS of kpictl can be seen to stay flat when the data grows tenfold. A kpictl run far
beyond its target (``--timeout-factor`` times what the target allows) is killed and
reported as missed, with its time as a lower bound.

Modules: ``harness`` (running a command under the launcher: wall time, peak RSS, medians,
timeouts), ``data`` (range files, generated platforms, the import CSV, scratch
databases), ``baselines`` (the hand-written parse / COPY / SQL), ``steps`` (each step),
``report`` (the table).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from benchmarks.data import Databases
from benchmarks.harness import Budget, compile_package
from benchmarks.report import NOTES, QUICK_NOTE, Result, report, rss_summary
from benchmarks.steps import (
    FULL,
    QUICK,
    STEPS,
    file_steps,
    import_steps,
    isolation_steps,
    score_steps,
    startup_steps,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "KPICTL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="admin URL of a PostgreSQL server for the database steps ('' to skip them)",
    )
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma-separated steps to run (default: all of {','.join(STEPS)})",
    )
    parser.add_argument("--files", type=int, help="override the number of range files")
    parser.add_argument(
        "--customers", type=int, help="override N, the customers of verify-isolation and score"
    )
    parser.add_argument("--import-rows", type=int, help="override the rows of the import CSV")
    parser.add_argument(
        "--loop-sample",
        type=int,
        help="customers the per-customer loop baseline measures before extrapolating",
    )
    parser.add_argument(
        "--obs-per-kpi", type=int, help="score --all: observations per customer and KPI"
    )
    parser.add_argument(
        "--single-size",
        action="store_true",
        help="run the database steps at N only (no tenfold RSS check)",
    )
    parser.add_argument("--repeat", type=int, help="runs per measurement (every step)")
    parser.add_argument(
        "--timeout-factor",
        type=float,
        default=10.0,
        help="kill a kpictl run of a database step after this many times the time its "
        "target allows (default 10); the step is then reported as missed, with a lower bound",
    )
    parser.add_argument(
        "--min-timeout",
        type=float,
        help="but never before this many seconds (default: quick 15, full 120)",
    )
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    sizes = QUICK if args.quick else FULL
    overrides = {
        "files": args.files,
        "customers": args.customers,
        "import_rows": args.import_rows,
        "loop_sample": args.loop_sample,
        "obs_per_kpi": args.obs_per_kpi,
        "repeat": args.repeat,
        "db_repeat": args.repeat,
        "startup_repeat": args.repeat,
        "timeout_floor": args.min_timeout,
    }
    sizes = replace(sizes, **{k: v for k, v in overrides.items() if v})
    if args.single_size:
        sizes = replace(sizes, scales=(1.0,))

    budget = Budget(args.timeout_factor, sizes.timeout_floor)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    log(f"kpictl byte-compiled in {compile_package()} (as an install does)")
    work = Path(tempfile.mkdtemp(prefix="kpictl-bench-"))
    dbs = Databases(args.pg) if args.pg else None
    results: list[Result] = []
    started = time.perf_counter()
    try:
        log(
            f"kpictl benchmark: {'quick' if args.quick else 'full'} sizes, "
            f"steps {','.join(steps)}, "
            f"median of {sizes.repeat} runs ({sizes.db_repeat} for the database steps), "
            f"work dir {work}"
        )
        if "startup" in steps:
            results += startup_steps(work, sizes)
            log(report(results))
        if "files" in steps:
            results += file_steps(work, sizes, dbs)
            log(report(results[-6:]))
        if dbs is None:
            if {"isolation", "score", "import"} & set(steps):
                log("no PostgreSQL (--pg ''): the isolation, score and import steps are skipped")
        else:
            if "isolation" in steps:
                results += isolation_steps(sizes, dbs, budget, log)
            if "score" in steps:
                results += score_steps(sizes, dbs, budget, log)
            if "import" in steps:
                results += import_steps(work, sizes, dbs, budget, log)
    finally:
        if dbs:
            dbs.drop_all()
        shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    print()
    print(rss_summary(results))
    print()
    print(NOTES)
    if args.quick:
        print(QUICK_NOTE)
    print()
    print(
        f"{len(results)} measurements in {time.perf_counter() - started:.0f}s; "
        f"{sum(1 for r in results if r.judged and not r.met)} ratio target(s) missed "
        "(at the sizes they are stated for). Medians of wall "
        "times in fresh processes on a shared machine (others' test suites may run at the "
        "same time): compare the ratios, not the seconds."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
