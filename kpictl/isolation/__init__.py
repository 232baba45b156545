"""The tenant-isolation checks of ``verify-isolation`` (SPEC section 3), set-based.

Every check reads all customers at once: the number of SQL statements is fixed,
whatever the number of customers, and a statement returns only what is wrong (a clean
database sends back next to nothing, so memory stays flat as customers grow).

The package: :mod:`.report` (what was found), :mod:`.checks` (the data checks),
:mod:`.schemafacts` (constraints, indexes and cascades, read with the Inspector),
:mod:`.rls` (PostgreSQL row-level security: the catalog), :mod:`.reach` (what the
tenant role can reach) and :mod:`.probe` (reads and writes tried as the tenant role).
JUnit XML is written by :mod:`kpictl.render.junit`. Nothing here prints:
:func:`verify_isolation` returns an :class:`IsolationReport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from sqlalchemy import Connection

from kpictl import store
from kpictl.backends import backend_of
from kpictl.db import engine as db
from kpictl.errors import UnknownCustomer, UsageError
from kpictl.isolation import checks, rls, schemafacts
from kpictl.isolation.report import CHECKS, CheckResult, IsolationReport, Violation
from kpictl.isolation.rls import POLICY_USING, PROBE_CUSTOMERS, PROBE_SAMPLE, SQLITE_RLS_NOTE
from kpictl.settings import Settings

__all__ = [
    "CHECKS",
    "POLICY_USING",
    "PROBES",
    "PROBE_CUSTOMERS",
    "PROBE_SAMPLE",
    "SQLITE_RLS_NOTE",
    "CheckResult",
    "IsolationReport",
    "Violation",
    "run_checks",
    "verify_isolation",
]


PROBES = ("sample", "all")


def verify_isolation(
    settings: Settings, *, customers: Sequence[str] = (), probe: str = "sample"
) -> IsolationReport:
    """Run every isolation check against the database, in one read transaction.

    ``probe``: ``sample`` probes row-level security for a sample of customers when the
    catalog proves the policies treat every customer alike (else every customer);
    ``all`` probes every customer whatever the catalog shows.

    ``customers`` (slugs) narrows the per-customer checks to those customers; the
    schema, the defaults, orphan rows and the catalog side of row-level security are
    always checked in full.
    """
    _check_probe(probe)
    slugs = tuple(dict.fromkeys(customers))
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        # read_transaction gives one snapshot for every statement: the probe compares
        # what the tenant sees with counts an earlier statement read, and a write
        # committed in between must not pass for a leak.
        # The effective-view query's cost estimate over a million rows triggers JIT
        # compilation (PostgreSQL), which costs more than it saves on these short scans.
        backend_of(conn).without_jit(conn)
        selected: list[int] | None = None
        if slugs:
            found = store.customers_by_slug(conn, slugs)
            missing = [s for s in slugs if s not in found]
            if missing:
                raise UnknownCustomer(
                    f"unknown customer {missing[0]!r}",
                    hint="'kpictl customers list' shows the customers",
                )
            selected = sorted(c.customer_id for c in found.values())
        return run_checks(conn, customer_ids=selected, customer_slugs=slugs, probe=probe)


def run_checks(
    conn: Connection,
    *,
    customer_ids: Collection[int] | None = None,
    customer_slugs: Sequence[str] = (),
    probe: str = "sample",
) -> IsolationReport:
    """Every check on an open connection (inside the caller's transaction)."""
    _check_probe(probe)
    started = time.perf_counter()
    ids = sorted(customer_ids) if customer_ids is not None else None
    results = [
        *_timed(checks.unique_checks, conn, ids),
        *_timed(lambda c, _ids: [checks.no_orphan_rows(c)], conn, ids),
        *_timed(lambda c, _ids: [schemafacts.schema_constraints(c)], conn, ids),
        *_timed(checks.effective_view_checks, conn, ids),
        *_timed(lambda c, i: [rls.row_level_security(c, i, probe_all=probe == "all")], conn, ids),
    ]
    order = list(CHECKS)
    results.sort(key=lambda r: order.index(r.name))
    return IsolationReport(
        backend_of(conn).name,
        tuple(results),
        tuple(customer_slugs),
        seconds=time.perf_counter() - started,
    )


def _timed(
    run: Callable[[Connection, list[int] | None], list[CheckResult]],
    conn: Connection,
    ids: list[int] | None,
) -> list[CheckResult]:
    """The results of one step, each with its share of the step's time."""
    started = time.perf_counter()
    results = run(conn, ids)
    share = (time.perf_counter() - started) / max(len(results), 1)
    return [replace(r, seconds=share) for r in results]


def _check_probe(probe: str) -> None:
    if probe not in PROBES:
        raise UsageError(f"--probe must be one of {', '.join(PROBES)}, not {probe!r}")
