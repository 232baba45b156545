"""Seeding: range files planned against the database and applied, a chunk at a time,
in one transaction (``kpictl seed``); and the plan of ``diff``.

:func:`build_plan` compares parsed files with the stored rows and revisions in a few
queries whatever their number; :func:`seed` streams the selected files through the
:class:`~kpictl.rangefiles.RangeDir` pipeline, recognising unchanged files by their
sha256 so that a re-run parses none of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection

from kpictl import store
from kpictl.db import engine as db
from kpictl.errors import RangeFilesInvalid, VersionRefused
from kpictl.rangefiles.model import Problem, RangeFile
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.rangefiles.reading import read_bytes
from kpictl.rangefiles.yamlstrict import MAX_BYTES
from kpictl.seeding.apply import apply
from kpictl.seeding.plan import Plan, PlanTotals, RecordedRevision, StoredRange, plan_scope
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings, applied_by


@dataclass(slots=True)
class SeedResult:
    plan: PlanTotals  # the plan's counts: its rows went to ``on_plan`` a chunk at a time
    applied: bool
    dry_run: bool
    warnings: list[Problem] = field(default_factory=list)


def build_plan(
    conn: Connection,
    files: Sequence[RangeFile],
    *,
    prune: bool = False,
    force: bool = False,
    unchanged: Mapping[str | None, tuple[str, str | None]] | None = None,
) -> tuple[Plan, list[str | None]]:
    """Compare files with the database: a few queries, whatever the number of files.

    ``unchanged`` names scopes whose files were not parsed because their (sha256,
    catalog sha256) matched the recorded revision when last looked. They are
    confirmed here, in this transaction: same hashes, and the stored rows still hash
    to the recorded content (no hand edit). Returns the plan and the scopes that could
    not be confirmed (their files must be parsed and planned after all).
    """
    unchanged = unchanged or {}
    slugs = [f.customer for f in files if f.customer is not None]
    slugs += [s for s in unchanged if s is not None]
    known = store.customers_by_slug(conn, slugs)
    file_ids: list[int | None] = [
        known[f.customer].customer_id for f in files if f.customer in known
    ]
    if any(f.kind == "defaults" for f in files):
        file_ids.append(None)
    # the scopes not parsed, as customer ids (None: defaults), when the customer exists
    candidate_ids = {
        s: (known[s].customer_id if s is not None else None)
        for s in unchanged
        if s is None or s in known
    }
    unconfirmed = store.unconfirmed_scopes(
        conn, {cid: unchanged[s] for s, cid in candidate_ids.items()}
    )
    stored = store.stored_ranges(conn, file_ids)
    recorded = store.latest_revisions(conn, file_ids)
    plan = plan_files(files, known, stored, recorded, prune=prune, force=force)
    stale = [s for s in unchanged if s not in candidate_ids or candidate_ids[s] in unconfirmed]
    plan.unchanged = len(unchanged) - len(stale)
    return plan, stale


def plan_files(
    files: Sequence[RangeFile],
    known: Mapping[str, store.Customer],
    stored: Mapping[int | None, Mapping[str, StoredRange]],
    recorded: Mapping[int | None, RecordedRevision],
    *,
    prune: bool = False,
    force: bool = False,
) -> Plan:
    """The plan of ``files`` against what was read of the database (pure): ``known``
    customers by slug, ``stored`` rows and ``recorded`` revisions by customer id."""
    scopes = []
    for file in files:
        if file.customer is None:
            scopes.append(
                plan_scope(file, stored.get(None, {}), recorded.get(None), prune=prune, force=force)
            )
            continue
        customer = known.get(file.customer)
        if customer is None:
            scopes.append(plan_scope(file, {}, None, customer_exists=False, prune=prune))
            continue
        scopes.append(
            plan_scope(
                file,
                stored[customer.customer_id],
                recorded.get(customer.customer_id),
                customer_name=customer.name,
                prune=prune,
                force=force,
            )
        )
    return Plan(scopes)


# Scopes read, planned and written at a time, inside the one transaction: a seed holds
# one chunk of parsed files and plan rows (and the next chunk being parsed), so its
# memory does not grow with the number of files: about 110 MB of peak RSS for 1,000 or
# 10,000 files (chunks of 500 gave 85 MB but measured 20-30% slower). At
# most store.MAX_IN_LIST, so that a chunk's reads select its customers with an IN list.
SEED_CHUNK = 1000


def seed(
    settings: Settings,
    *,
    customers: Sequence[str] = (),
    defaults: bool = False,
    all: bool = False,
    dry_run: bool = False,
    prune: bool = False,
    force: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_plan: Callable[[Plan], None] | None = None,
    on_planned: Callable[[PlanTotals], None] | None = None,
    ranges: RangeDir | None = None,
) -> SeedResult:
    """Apply range files in one transaction: everything lands or nothing does.

    The files are read, planned and written SEED_CHUNK scopes at a time inside that
    transaction, so that memory stays flat whatever their number. Every file is
    validated before the transaction commits: an invalid file anywhere rolls it all
    back, and so does a version refusal.

    A file whose bytes and catalog are those of its scope's latest revision, and whose
    stored rows nobody edited since, is recognised by its sha256 and not parsed again:
    re-running a seed of 10,000 unchanged files reads them but parses none.
    ``on_plan`` is called with the plan of each chunk, in file order, before the chunk
    is written; ``on_planned`` with the totals once every file is planned and valid,
    before anything is committed (and before a refusal is raised).
    """
    ranges = ranges or RangeDir(settings.ranges_dir)
    paths, warnings = ranges.select(customers=customers, defaults=defaults, all=all)
    paths.sort(key=lambda item: (item[0] is not None, item[0] or ""))  # defaults, then slugs
    catalog, catalog_problems = ranges.require_catalog()
    warnings += catalog_problems
    with db.open_database(settings, lock_timeout=lock_timeout, write=True) as engine:
        with db.read_transaction(engine) as conn:
            recorded = store.recorded_file_hashes(
                conn,
                None if all else [s for s, _ in paths if s is not None],
                defaults=any(s is None for s, _ in paths),
            )
        candidates = {
            scope: recorded[scope]
            for scope, path in paths
            if scope in recorded and recorded[scope] == (_file_sha256(path), catalog.sha256)
        }
        chunks = [paths[i : i + SEED_CHUNK] for i in range(0, len(paths), SEED_CHUNK)]
        parsed = ranges.load_chunks(
            [[path for scope, path in chunk if scope not in candidates] for chunk in chunks]
        )
        seeding = _Seeding(
            ranges, candidates, prune=prune, force=force, write=not dry_run, on_plan=on_plan
        )
        transaction = (
            db.read_transaction(engine)
            if dry_run
            else db.write_transaction(engine, lock_timeout=lock_timeout)
        )
        with closing(parsed), transaction as conn:
            for chunk, loaded in zip(chunks, parsed, strict=True):
                seeding.chunk(conn, chunk, loaded)
            warnings += seeding.warnings
            if seeding.errors:
                raise RangeFilesInvalid(seeding.errors)
            totals = seeding.totals
            if on_planned is not None:
                on_planned(totals)
            if dry_run or not totals.writes_anything:
                return SeedResult(totals, applied=False, dry_run=dry_run, warnings=warnings)
            if totals.refusals:
                raise VersionRefused(
                    "; ".join(totals.refusals) + "; nothing was applied",
                    hint="bump 'version' in the file, or use --force",
                )
    return SeedResult(totals, applied=True, dry_run=False, warnings=warnings)


class _Seeding:
    """One seed's work, chunk by chunk, inside its transaction: what it keeps between
    chunks is counts and problems, never files or plan rows."""

    def __init__(
        self,
        ranges: RangeDir,
        candidates: Mapping[str | None, tuple[str, str | None]],
        *,
        prune: bool,
        force: bool,
        write: bool,
        on_plan: Callable[[Plan], None] | None,
    ) -> None:
        self.ranges = ranges
        self.catalog = ranges.require_catalog()[0]
        self.candidates = candidates
        self.prune = prune
        self.force = force
        self.write = write
        self.on_plan = on_plan
        self.totals = PlanTotals()
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.applied_by = applied_by()

    def chunk(
        self,
        conn: Connection,
        scopes: Sequence[tuple[str | None, Path]],
        loaded: Sequence[tuple[RangeFile | None, list[Problem]]],
    ) -> None:
        """Plan one chunk of scopes (``loaded``: its parsed files) and write it, unless
        the seed is already bound to fail or write nothing."""
        files = self._files(loaded)
        if self.errors:  # the seed fails: only validate the rest, to report every error
            return
        unchanged = {s: self.candidates[s] for s, _ in scopes if s in self.candidates}
        plan, stale = build_plan(
            conn, files, prune=self.prune, force=self.force, unchanged=unchanged
        )
        if stale:  # changed since we looked, or edited by hand: plan them from the files
            stale_scopes = set(stale)
            with closing(
                self.ranges.load_chunks([[p for s, p in scopes if s in stale_scopes]])
            ) as late_chunks:
                late = self._files(next(late_chunks))
            if self.errors:
                return
            more, _ = build_plan(conn, late, prune=self.prune, force=self.force)
            plan.scopes += more.scopes
        self.totals.add(plan)
        if self.on_plan is not None:
            self.on_plan(plan)
        if self.write and not self.totals.refusals and plan.writes_anything:
            self._apply(conn, plan)

    def _files(self, loaded: Sequence[tuple[RangeFile | None, list[Problem]]]) -> list[RangeFile]:
        files = []
        for rangefile, problems in loaded:
            for problem in problems:
                (self.errors if problem.severity == "error" else self.warnings).append(problem)
            if rangefile is not None:
                files.append(rangefile)
        return files

    def _apply(self, conn: Connection, plan: Plan) -> None:
        apply(conn, plan, applied_by=self.applied_by, catalog_sha256=self.catalog.sha256)


def _file_sha256(path: Path) -> str | None:
    """The file's sha256; None when it is no readable regular file of at most 1 MiB, which
    leaves reporting the problem to the loader."""
    try:
        data = read_bytes(path)
    except OSError:
        return None
    return None if len(data) > MAX_BYTES else hashlib.sha256(data).hexdigest()
