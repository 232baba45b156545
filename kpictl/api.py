"""The verbs of kpictl: what the CLI (and any other program) calls.

Each verb takes the :class:`~kpictl.settings.Settings` first, does its work in one
transaction, and returns a result object or raises a :class:`~kpictl.errors.KpictlError`.
Nothing here prints.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable, Mapping, Sequence
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
from kpictl.plan import Plan, plan_scope
from kpictl.rangefiles import load_catalog, load_into, load_range_file, range_file_paths
from kpictl.rangefiles.model import KpiRange, Problem, RangeFile, RangeSet
from kpictl.rangefiles.rules import SLUG_RE, control_character
from kpictl.rangefiles.yamlstrict import MAX_BYTES
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings, applied_by

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
    plan: Plan
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
    """Compare files with the database: four queries, whatever the number of files.

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
    scope_ids: list[int | None] = [known[s].customer_id for s in slugs if s in known]
    if any(f.kind == "defaults" for f in files) or None in unchanged:
        scope_ids.append(None)
    stored = store.stored_ranges(conn, scope_ids)
    recorded = store.latest_revisions(conn, scope_ids)
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
    confirmed, stale = 0, []
    for scope, (sha, catalog_sha) in unchanged.items():
        customer = known.get(scope) if scope is not None else None
        cid = customer.customer_id if customer is not None else None
        rec = recorded.get(cid) if scope is None or customer is not None else None
        same = (
            rec is not None
            and rec.sha256 == sha
            and rec.catalog_sha256 == catalog_sha
            and rec.content_sha256
            == store.stored_content_sha256(
                scope, customer.name if customer else None, rec.scoring, stored[cid]
            )
        )
        if same:
            confirmed += 1
        else:
            stale.append(scope)
    return Plan(scopes, unchanged=confirmed), stale


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
) -> SeedResult:
    """Apply range files in one transaction: everything lands or nothing does.

    A file whose bytes and catalog are those of its scope's latest revision, and whose
    stored rows nobody edited since, is recognised by its sha256 and not parsed again:
    re-running a seed of 10,000 unchanged files reads them but parses none.
    ``on_plan`` is called with the plan before anything is written.
    """
    paths, warnings = selected_paths(settings, customers=customers, defaults=defaults, all=all)
    catalog_path = settings.ranges_dir / "kpis.yaml"
    catalog, catalog_problems = load_catalog(catalog_path)
    if catalog is None:
        raise RangeFilesInvalid([p for p in catalog_problems if p.severity == "error"])
    warnings += catalog_problems
    hashes = {scope: _file_sha256(path) for scope, path in paths}
    with db.open_database(settings, lock_timeout=lock_timeout) as engine:
        with db.read_transaction(engine) as conn:
            recorded = store.recorded_file_hashes(
                conn,
                None if all else [s for s, _ in paths if s is not None],
                defaults=any(s is None for s, _ in paths),
            )
        candidates = {
            scope: recorded[scope]
            for scope, sha in hashes.items()
            if scope in recorded and recorded[scope] == (sha, catalog.sha256)
        }
        rangeset = _load(settings, [(s, p) for s, p in paths if s not in candidates])
        warnings += rangeset.warnings
        files = rangeset.files()
        transaction = (
            db.read_transaction(engine)
            if dry_run
            else db.write_transaction(engine, lock_timeout=lock_timeout)
        )
        with transaction as conn:
            plan, stale = build_plan(conn, files, prune=prune, force=force, unchanged=candidates)
            if stale:  # changed since we looked, or edited by hand: plan them from the files
                late = _load(settings, [(s, p) for s, p in paths if s in set(stale)])
                warnings += late.warnings
                files += late.files()
                more, _ = build_plan(conn, late.files(), prune=prune, force=force)
                plan.scopes += more.scopes
            if on_plan is not None:
                on_plan(plan)
            if dry_run or not plan.writes_anything:
                return SeedResult(plan, applied=False, dry_run=dry_run, warnings=warnings)
            if plan.refusals:
                reasons = [s.refusal for s in plan.refusals if s.refusal]
                raise VersionRefused(
                    "; ".join(reasons) + "; nothing was applied",
                    hint="bump 'version' in the file, or use --force",
                )
            new = {
                s.file.customer: s.file.display_name or s.file.customer
                for s in plan.scopes
                if s.file.customer is not None and not s.customer_exists
            }
            store.create_customers(conn, new)
            store.rename_customers(
                conn,
                {
                    s.file.customer: s.name_change[1]
                    for s in plan.scopes
                    if s.name_change and s.file.customer
                },
            )
            ids = {
                slug: c.customer_id
                for slug, c in store.customers_by_slug(
                    conn, [f.customer for f in files if f.customer]
                ).items()
            }
            store.apply_plan(
                conn, plan, ids, applied_by=applied_by(), catalog_sha256=catalog.sha256
            )
    return SeedResult(plan, applied=True, dry_run=False, warnings=warnings)


def _file_sha256(path: Path) -> str | None:
    """The file's sha256; None when it is no readable regular file of at most 1 MiB, which
    leaves reporting the problem to the loader (a device is never read here)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
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
            c.created_at.isoformat() if c.created_at else None,
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
