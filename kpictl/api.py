"""The verbs of kpictl: what the CLI (and any other program) calls.

Each verb takes the :class:`~kpictl.settings.Settings` first, does its work in one
transaction, and returns a result object or raises a :class:`~kpictl.errors.KpictlError`.
Nothing here prints.
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
from kpictl.db.tenant import tenant_scope
from kpictl.errors import (
    RangeFilesInvalid,
    UnknownCustomer,
    UnknownKpi,
    UsageError,
    VersionRefused,
)
from kpictl.plan import Plan, PlanTotals, plan_scope
from kpictl.rangefiles import load_catalog, load_into, load_range_file, range_file_paths
from kpictl.rangefiles.loader import load_chunks, load_many, read_bytes
from kpictl.rangefiles.model import Catalog, KpiRange, Problem, RangeFile, RangeSet
from kpictl.rangefiles.rules import SLUG_RE, control_character
from kpictl.rangefiles.yamlstrict import MAX_BYTES
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings, applied_by
from kpictl.timestamps import iso_or_none

# -- init ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitResult:
    url: str
    before: str | None  # schema revision before; None for a fresh database
    after: str


def init(settings: Settings) -> InitResult:
    """Create or upgrade the schema."""
    with db.translate_errors(settings):
        engine = db.make_engine(settings)
        try:
            with engine.connect() as conn:
                before = db.current_revision(conn)
            after = db.ensure_schema(engine)
        finally:
            engine.dispose()
    return InitResult(settings.safe_url, before, after)


# -- seed ----------------------------------------------------------------------------


@dataclass(slots=True)
class SeedResult:
    plan: PlanTotals  # the plan's counts: its rows went to ``on_plan`` a chunk at a time
    applied: bool
    dry_run: bool
    warnings: list[Problem] = field(default_factory=list)


def _check_selection(customers: Sequence[str], defaults: bool, all: bool) -> None:
    if not (customers or defaults or all):
        raise UsageError("select what to apply: --customer SLUG, --defaults or --all")
    for slug in customers:
        if not SLUG_RE.fullmatch(slug):
            raise UsageError(f"invalid customer slug {slug!r}")


def selected_paths(
    settings: Settings, *, customers: Sequence[str] = (), defaults: bool = False, all: bool = False
) -> tuple[list[tuple[str | None, Path]], list[Problem]]:
    """The selected range files as (scope, path), not read yet (scope None: defaults)."""
    _check_selection(customers, defaults, all)
    if all:
        return range_file_paths(settings.ranges_dir, defaults=True, customers=None)
    return range_file_paths(
        settings.ranges_dir, defaults=defaults, customers=list(customers), require=True
    )


def load_selection(
    settings: Settings, *, customers: Sequence[str] = (), defaults: bool = False, all: bool = False
) -> tuple[list[RangeFile], list[Problem]]:
    """Load and validate the selected range files; raise if any is invalid."""
    paths, extra = selected_paths(settings, customers=customers, defaults=defaults, all=all)
    rangeset = _load(settings, paths)
    rangeset.problems += extra
    return rangeset.files(), rangeset.warnings


def _load(settings: Settings, paths: Sequence[tuple[str | None, Path]]) -> RangeSet:
    catalog, problems = load_catalog(settings.ranges_dir / "kpis.yaml")
    rangeset = RangeSet(catalog=catalog, problems=problems)
    if catalog is not None:
        load_into(rangeset, paths)
    if rangeset.errors:
        raise RangeFilesInvalid(rangeset.errors)
    return rangeset


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
    scopes = []
    for file in files:
        if file.customer is None:
            scopes.append(
                plan_scope(file, stored[None], recorded.get(None), prune=prune, force=force)
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
    stale = [s for s in unchanged if s not in candidate_ids or candidate_ids[s] in unconfirmed]
    confirmed = len(unchanged) - len(stale)
    return Plan(scopes, unchanged=confirmed), stale


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
    paths, warnings = selected_paths(settings, customers=customers, defaults=defaults, all=all)
    paths.sort(key=lambda item: (item[0] is not None, item[0] or ""))  # defaults, then slugs
    catalog_path = settings.ranges_dir / "kpis.yaml"
    catalog, catalog_problems = load_catalog(catalog_path)
    if catalog is None:
        raise RangeFilesInvalid([p for p in catalog_problems if p.severity == "error"])
    warnings += catalog_problems
    with db.open_database(settings, lock_timeout=lock_timeout) as engine:
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
        parsed = load_chunks(
            [[path for scope, path in chunk if scope not in candidates] for chunk in chunks],
            catalog,
        )
        seeding = _Seeding(
            catalog, candidates, prune=prune, force=force, write=not dry_run, on_plan=on_plan
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
        catalog: Catalog,
        candidates: Mapping[str | None, tuple[str, str | None]],
        *,
        prune: bool,
        force: bool,
        write: bool,
        on_plan: Callable[[Plan], None] | None,
    ) -> None:
        self.catalog = catalog
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
            late = self._files(load_many([p for s, p in scopes if s in stale_scopes], self.catalog))
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
        scopes = [s for s in plan.scopes if s.needs_revision]
        store.create_customers(
            conn,
            {
                s.file.customer: s.file.display_name or s.file.customer
                for s in scopes
                if s.file.customer is not None and not s.customer_exists
            },
        )
        store.rename_customers(
            conn,
            {
                s.file.customer: s.name_change[1]
                for s in scopes
                if s.name_change and s.file.customer
            },
        )
        ids = {
            slug: c.customer_id
            for slug, c in store.customers_by_slug(
                conn, [s.file.customer for s in scopes if s.file.customer]
            ).items()
        }
        store.apply_plan(
            conn, plan, ids, applied_by=self.applied_by, catalog_sha256=self.catalog.sha256
        )


def _file_sha256(path: Path) -> str | None:
    """The file's sha256; None when it is no readable regular file of at most 1 MiB, which
    leaves reporting the problem to the loader."""
    try:
        data = read_bytes(path)
    except OSError:
        return None
    return None if len(data) > MAX_BYTES else hashlib.sha256(data).hexdigest()


# -- list ----------------------------------------------------------------------------


def _checked_kpi(settings: Settings, kpi: str | None) -> str | None:
    """Refuse a KPI name the catalog does not know (when there is a readable catalog)."""
    if kpi is None:
        return None
    catalog_path = settings.ranges_dir / "kpis.yaml"
    if catalog_path.exists():
        catalog, _problems = load_catalog(catalog_path, display=str(catalog_path))
        if catalog is not None and kpi not in catalog:
            raise UnknownKpi(f"unknown KPI {kpi!r}", hint=f"the catalog is {catalog_path}")
    return kpi


def file_defaults(settings: Settings) -> dict[str, KpiRange]:
    """The defaults file's ranges (the ``file`` source), or nothing without a file."""
    path = settings.ranges_dir / "defaults.yaml"
    if not path.exists():
        return {}
    catalog_path = settings.ranges_dir / "kpis.yaml"
    catalog, problems = load_catalog(catalog_path, display=str(catalog_path))
    rangefile, file_problems = load_range_file(path, catalog, display=str(path))
    errors = [p for p in problems + file_problems if p.severity == "error"]
    if errors or rangefile is None:
        raise RangeFilesInvalid(errors)
    return rangefile.ranges


def get_customer(conn: Connection, slug: str) -> store.Customer:
    found = store.customers_by_slug(conn, [slug]).get(slug)
    if found is None:
        raise UnknownCustomer(
            f"unknown customer {slug!r}", hint="'kpictl customers list' shows the customers"
        )
    return found


def list_ranges(
    settings: Settings,
    *,
    customer: str | None = None,
    own: bool = False,
    defaults: bool = False,
    kpi: str | None = None,
) -> list[store.RangeRow]:
    """Stored ranges; with ``customer``, its effective ranges (or ``own`` rows only)."""
    if own and customer is None:
        raise UsageError("--own needs --customer")
    if customer is not None and defaults:
        raise UsageError("--customer and --defaults do not go together")
    kpi = _checked_kpi(settings, kpi)
    fallback = file_defaults(settings) if customer is not None and not own else None
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        if customer is None:
            return store.list_stored(conn, defaults_only=defaults, kpi=kpi)
        found = get_customer(conn, customer)
        if own:
            with tenant_scope(conn, found.customer_id):  # row-level security on PostgreSQL
                return store.list_stored(conn, customer_id=found.customer_id, kpi=kpi)
        return store.effective_ranges(conn, found, file_defaults=fallback, kpi=kpi)


# -- customers -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    slug: str
    name: str
    created_at: str | None
    own_ranges: int

    def as_dict(self) -> dict[str, object]:
        return {
            "slug": self.slug,
            "name": self.name,
            "created_at": self.created_at,
            "own_ranges": self.own_ranges,
        }


def list_customers(settings: Settings) -> list[CustomerInfo]:
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        counts = store.customer_range_counts(conn)
        found = store.customers_by_slug(conn)
    return [
        CustomerInfo(
            c.slug,
            c.name,
            iso_or_none(c.created_at),
            counts.get(c.customer_id, 0),
        )
        for c in sorted(found.values(), key=lambda c: c.slug)
    ]


def add_customer(settings: Settings, slug: str, *, name: str | None = None) -> store.Customer:
    if not SLUG_RE.fullmatch(slug):
        raise UsageError(
            f"invalid customer slug {slug!r}",
            hint="lowercase letters, digits and '-', at most 63, not starting or ending with '-'",
        )
    if name is not None and (bad := control_character(name)):
        raise UsageError(f"--name must not contain control characters, got {bad}")
    with (
        db.open_database(settings) as engine,
        db.write_transaction(engine, lock_timeout=DEFAULT_LOCK_TIMEOUT) as conn,
    ):
        if store.customers_by_slug(conn, [slug]):
            raise UsageError(f"customer {slug!r} already exists")
        store.create_customers(conn, {slug: name or slug})
        return store.customers_by_slug(conn, [slug])[slug]


def remove_customer(settings: Settings, slug: str) -> store.Customer:
    """Delete a customer; its ranges, observations, scores and revisions go with it."""
    with (
        db.open_database(settings) as engine,
        db.write_transaction(engine, lock_timeout=DEFAULT_LOCK_TIMEOUT) as conn,
    ):
        found = get_customer(conn, slug)
        store.delete_customer(conn, found.customer_id)
        return found
