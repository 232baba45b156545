"""The tenant-isolation checks of ``verify-isolation`` (SPEC section 3), set-based.

Every check reads all customers at once: the number of SQL statements is fixed,
whatever the number of customers, and a statement returns only what is wrong (a clean
database sends back next to nothing, so memory stays flat as customers grow).

On PostgreSQL the ``row_level_security`` check reads the catalogs and then probes the
policies for real: one statement, run under ``kpictl_tenant``, calls a temporary
PL/pgSQL function once per probed customer (and once with no customer). The function
sets ``kpictl.customer_id`` and runs a plain ``SELECT`` on each tenant table, so the
policies are evaluated exactly as in a tenant-scoped read; the statement compares what
each probe saw with what is stored and returns only the probes that differ. When the
catalog shows the policies exactly as migration 0002 creates them, they treat every
customer alike and a sample of customers is probed; otherwise every customer is (see
:func:`_row_level_security`). The probe runs in a savepoint that is rolled back: the
function, its table of expected counts, the role and the setting leave no trace.

Nothing here prints: :func:`verify_isolation` returns an :class:`IsolationReport`.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy import exc as sa_exc

from kpictl import store
from kpictl.db import engine as db
from kpictl.db.schema import TENANT_TABLES, customers, health_scores, kpi_observations
from kpictl.db.schema import kpi_reference_ranges as R
from kpictl.db.tenant import CUSTOMER_SETTING, POLICY_NAME, TENANT_ROLE, tenant_scope
from kpictl.errors import UnknownCustomer
from kpictl.settings import Settings

CHECKS: dict[str, str] = {
    "unique_customer_kpi": "no (customer_id, kpi_name) pair appears twice",
    "unique_default_kpi": "no KPI has two system-default rows",
    "no_orphan_rows": "every tenant row's customer_id is in customers",
    "schema_constraints": "the constraints, indexes and cascades of the schema exist",
    "effective_one_per_kpi": "every customer's effective view has each KPI once",
    "no_foreign_rows": "no customer's scoped read returns another customer's row",
    "row_level_security": "PostgreSQL row-level security admits each tenant only its own rows",
}

SQLITE_RLS_NOTE = (
    "not applicable: SQLite has no roles and no row-level security; there isolation "
    "rests on kpictl's scoped queries (no_foreign_rows) and on the constraints and "
    "foreign keys (schema_constraints)"
)

_PK = {
    "kpi_reference_ranges": "range_id",
    "kpi_observations": "observation_id",
    "health_scores": "score_id",
}


# -- result objects ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    """One thing found wrong, naming the table, customer, KPI and rows it concerns."""

    message: str
    table: str | None = None
    customer: str | None = None  # slug; None for system defaults or an unknown customer
    customer_id: int | None = None
    kpi_name: str | None = None
    row_ids: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "table": self.table,
            "customer": self.customer,
            "customer_id": self.customer_id,
            "kpi_name": self.kpi_name,
            "row_ids": list(self.row_ids),
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: passed, failed (with violations) or skipped (why)."""

    name: str
    violations: tuple[Violation, ...] = ()
    skipped: str | None = None  # the reason the check does not apply here

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def status(self) -> str:
        if self.violations:
            return "failed"
        return "skipped" if self.skipped else "passed"

    @property
    def description(self) -> str:
        return CHECKS[self.name]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "ok": self.ok,
            "status": self.status,
            "violations": [v.as_dict() for v in self.violations],
        }
        if self.skipped:
            out["skipped"] = True
            out["reason"] = self.skipped
        return out


@dataclass(frozen=True, slots=True)
class IsolationReport:
    """Every check's result, in the SPEC's order. ``ok`` when none failed."""

    backend: str
    checks: tuple[CheckResult, ...]
    customers: tuple[str, ...] = ()  # the --customer selection; empty: all customers
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [c.as_dict() for c in self.checks],
            "backend": self.backend,
            "customers": list(self.customers) or None,
        }

    def junit_xml(self) -> str:
        """The JUnit XML report (written by ``kpictl.render.isolation.junit_xml``)."""
        from kpictl.render.isolation import junit_xml

        return junit_xml(self)


# -- the verb ------------------------------------------------------------------------


def verify_isolation(settings: Settings, *, customers: Sequence[str] = ()) -> IsolationReport:
    """Run every isolation check against the database, in one read transaction.

    ``customers`` (slugs) narrows the per-customer checks to those customers; the
    schema, the defaults, orphan rows and the catalog side of row-level security are
    always checked in full.
    """
    slugs = tuple(dict.fromkeys(customers))
    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        # read_transaction gives one snapshot for every statement: the probe compares
        # what the tenant sees with counts an earlier statement read, and a write
        # committed in between must not pass for a leak.
        if db.is_postgresql(conn):
            # The effective-view query's cost estimate over a million rows triggers JIT
            # compilation, which costs more than it saves on these short scans.
            conn.exec_driver_sql("SET LOCAL jit = off")
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
        return run_checks(conn, customer_ids=selected, customer_slugs=slugs)


def run_checks(
    conn: Connection,
    *,
    customer_ids: Collection[int] | None = None,
    customer_slugs: Sequence[str] = (),
) -> IsolationReport:
    """Every check on an open connection (inside the caller's transaction)."""
    started = time.perf_counter()
    ids = sorted(customer_ids) if customer_ids is not None else None
    results = [
        *_unique_checks(conn, ids),
        _no_orphan_rows(conn),
        _schema_constraints(conn),
        *_effective_view_checks(conn, ids),
        _row_level_security(conn, ids),
    ]
    order = list(CHECKS)
    results.sort(key=lambda r: order.index(r.name))
    return IsolationReport(
        conn.dialect.name,
        tuple(results),
        tuple(customer_slugs),
        seconds=time.perf_counter() - started,
    )


# -- unique_customer_kpi, unique_default_kpi: one statement ---------------------------


def _unique_checks(conn: Connection, ids: list[int] | None) -> list[CheckResult]:
    # GROUP BY puts the NULLs (defaults) in one group: the same statement finds both
    # kinds of duplicate. The grouping reads only the pair's index; the row ids are
    # fetched for the pairs seen twice alone, as one string (string_agg on PostgreSQL,
    # group_concat on SQLite).
    pairs = (
        select(R.c.customer_id, R.c.kpi_name)
        .group_by(R.c.customer_id, R.c.kpi_name)
        .having(func.count() > 1)
    )
    if ids is not None:
        pairs = pairs.where(or_(R.c.customer_id.is_(None), R.c.customer_id.in_(ids)))
    twice = pairs.subquery("twice")
    row = R.alias("row")
    rows_of_pair = (
        select(func.aggregate_strings(cast(row.c.range_id, String), ","))
        .where(
            row.c.kpi_name == twice.c.kpi_name,
            or_(
                row.c.customer_id == twice.c.customer_id,
                and_(row.c.customer_id.is_(None), twice.c.customer_id.is_(None)),
            ),
        )
        .scalar_subquery()
    )
    query = select(
        twice.c.customer_id, twice.c.kpi_name, rows_of_pair.label("row_ids"), customers.c.slug
    ).select_from(twice.outerjoin(customers, customers.c.customer_id == twice.c.customer_id))
    groups = sorted(
        conn.execute(query),
        key=lambda r: (r.customer_id if r.customer_id is not None else -1, r.kpi_name),
    )
    customer_dupes: list[Violation] = []
    default_dupes: list[Violation] = []
    for group in groups:
        customer_id, kpi_name = group.customer_id, group.kpi_name
        row_ids = tuple(sorted(int(i) for i in group.row_ids.split(",")))
        if customer_id is None:
            default_dupes.append(
                Violation(
                    f"KPI {kpi_name} has {len(row_ids)} system-default rows "
                    f"(range_id {_ids(row_ids)})",
                    table=R.name,
                    kpi_name=kpi_name,
                    row_ids=row_ids,
                )
            )
        else:
            slug = group.slug
            customer_dupes.append(
                Violation(
                    f"customer {_who(slug, customer_id)} has {len(row_ids)} rows for KPI "
                    f"{kpi_name} (range_id {_ids(row_ids)})",
                    table=R.name,
                    customer=slug,
                    customer_id=customer_id,
                    kpi_name=kpi_name,
                    row_ids=row_ids,
                )
            )
    return [
        CheckResult("unique_customer_kpi", tuple(customer_dupes)),
        CheckResult("unique_default_kpi", tuple(default_dupes)),
    ]


# -- no_orphan_rows: one statement over every tenant table ---------------------------


def _no_orphan_rows(conn: Connection) -> CheckResult:
    parts = []
    for table in (R, kpi_observations, health_scores):
        kpi = table.c.kpi_name if "kpi_name" in table.c else literal(None, R.c.kpi_name.type)
        parts.append(
            select(
                literal(table.name).label("table_name"),
                table.c[_PK[table.name]].label("row_id"),
                table.c.customer_id,
                kpi.label("kpi_name"),
            ).where(
                table.c.customer_id.is_not(None),
                ~select(customers.c.customer_id)
                .where(customers.c.customer_id == table.c.customer_id)
                .exists(),
            )
        )
    groups: dict[tuple[str, int, str | None], list[int]] = defaultdict(list)
    for row in conn.execute(union_all(*parts)):
        groups[(row.table_name, row.customer_id, row.kpi_name)].append(row.row_id)
    violations = []
    for (table_name, customer_id, kpi_name), row_ids in sorted(groups.items(), key=repr):
        ids = tuple(sorted(row_ids))
        what = f" for KPI {kpi_name}" if kpi_name else ""
        violations.append(
            Violation(
                f"{table_name} has {len(ids)} row{'s' if len(ids) != 1 else ''}{what} of "
                f"customer_id {customer_id}, which is not in customers "
                f"({_PK[table_name]} {_ids(ids)})",
                table=table_name,
                customer_id=customer_id,
                kpi_name=kpi_name,
                row_ids=ids,
            )
        )
    return CheckResult("no_orphan_rows", tuple(violations))


# -- effective_one_per_kpi, no_foreign_rows: every customer's view in one statement ---


def _effective_view_checks(conn: Connection, ids: list[int] | None) -> list[CheckResult]:
    # The very predicate store.effective_ranges reads with, evaluated for every customer
    # at once: a join of customers with the ranges each one's scoped read returns.
    def view_of(viewer: Any) -> Any:
        return viewer.join(R, store.effective_range_filter(viewer.c.customer_id))

    # First every view, one group per customer, in the order the join yields them (no
    # sort): the customers whose view has a KPI twice or a foreign row. Only their views
    # are then read again, row by row, to name the rows.
    everyone = customers.alias("everyone")
    foreign_row = and_(R.c.customer_id.is_not(None), R.c.customer_id != everyone.c.customer_id)
    wrong = (
        select(everyone.c.customer_id)
        .select_from(view_of(everyone))
        .group_by(everyone.c.customer_id)
        .having(
            or_(
                func.count() != func.count(R.c.kpi_name.distinct()),
                func.max(case((foreign_row, 1), else_=0)) == 1,
            )
        )
    )
    if ids is not None:
        wrong = wrong.where(everyone.c.customer_id.in_(ids))
    wrong_views = wrong.cte("wrong_views")
    viewer = customers.alias("viewer")
    owner = customers.alias("owner")
    view = (
        select(
            viewer.c.customer_id.label("viewer_id"),
            viewer.c.slug.label("viewer"),
            R.c.range_id,
            R.c.customer_id.label("owner_id"),
            R.c.kpi_name,
            func.count().over(partition_by=[viewer.c.customer_id, R.c.kpi_name]).label("n"),
        )
        .select_from(view_of(viewer))
        .where(viewer.c.customer_id.in_(select(wrong_views.c.customer_id)))
    )
    v = view.subquery("effective_view")
    query = (
        select(v, owner.c.slug.label("owner"))
        .select_from(v.outerjoin(owner, owner.c.customer_id == v.c.owner_id))
        .where(
            or_(
                v.c.n > 1,
                and_(v.c.owner_id.is_not(None), v.c.owner_id != v.c.viewer_id),
            )
        )
    )
    twice: dict[tuple[int, str], list[Any]] = defaultdict(list)
    foreign: list[Violation] = []
    for row in conn.execute(query):
        if row.n > 1:
            twice[(row.viewer_id, row.kpi_name)].append(row)
        if row.owner_id is not None and row.owner_id != row.viewer_id:
            foreign.append(
                Violation(
                    f"the effective ranges of customer {row.viewer} include range_id "
                    f"{row.range_id} of customer {_who(row.owner, row.owner_id)} "
                    f"(KPI {row.kpi_name})",
                    table=R.name,
                    customer=row.viewer,
                    customer_id=row.viewer_id,
                    kpi_name=row.kpi_name,
                    row_ids=(row.range_id,),
                )
            )
    duplicates = []
    for (viewer_id, kpi_name), found in sorted(twice.items()):
        row_ids = tuple(sorted(r.range_id for r in found))
        sources = ", ".join(
            f"{r.range_id} ({'default' if r.owner_id is None else _who(r.owner, r.owner_id)})"
            for r in sorted(found, key=lambda r: r.range_id)
        )
        duplicates.append(
            Violation(
                f"the effective ranges of customer {found[0].viewer} have KPI {kpi_name} "
                f"{len(row_ids)} times (range_id {sources})",
                table=R.name,
                customer=found[0].viewer,
                customer_id=viewer_id,
                kpi_name=kpi_name,
                row_ids=row_ids,
            )
        )
    foreign.sort(key=lambda v: (v.customer or "", v.kpi_name or "", v.row_ids))
    return [
        CheckResult("effective_one_per_kpi", tuple(duplicates)),
        CheckResult("no_foreign_rows", tuple(foreign)),
    ]


# -- schema_constraints: the catalogs ------------------------------------------------


class _Index(NamedTuple):
    table: str
    name: str
    unique: bool
    columns: tuple[str, ...]
    nulls_not_distinct: bool  # PostgreSQL 15+; always False on SQLite
    predicate: str | None  # of a partial index


class _ForeignKey(NamedTuple):
    table: str
    name: str | None  # SQLite's are anonymous
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str  # CASCADE, NO ACTION, ...
    valid: bool  # PostgreSQL: False for a foreign key added NOT VALID


@dataclass
class _Schema:
    """What the catalogs say, in one shape for both backends."""

    indexes: list[_Index] = field(default_factory=list)
    foreign_keys: list[_ForeignKey] = field(default_factory=list)
    unique_constraints: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    sqlite_foreign_keys: bool = False

    def index(self, table: str, name: str) -> _Index | None:
        return next((i for i in self.indexes if (i.table, i.name) == (table, name)), None)

    def unique_index(self, table: str, columns: tuple[str, ...]) -> _Index | None:
        """A unique, non-partial index on exactly these columns."""
        return next(
            (
                i
                for i in self.indexes
                if i.table == table and i.unique and i.columns == columns and not i.predicate
            ),
            None,
        )


_PAIR = ("customer_id", "kpi_name")


def _schema_constraints(conn: Connection) -> CheckResult:
    """Section 2's constraints, indexes and cascades, read from the catalogs."""
    if db.is_postgresql(conn):
        schema = _read_pg_schema(conn)
    elif db.is_sqlite(conn):
        schema = _read_sqlite_schema(conn)
    else:
        return CheckResult("schema_constraints", skipped=f"not implemented for {conn.dialect.name}")
    problems: list[tuple[str | None, str]] = []
    postgresql = db.is_postgresql(conn)

    # uq_customer_kpi_name: one row per customer and KPI
    constraint = schema.unique_constraints.get((R.name, "uq_customer_kpi_name"))
    if constraint is None:
        also = " and, without its NULLS NOT DISTINCT, two system defaults" if postgresql else ""
        problems.append(
            (
                R.name,
                "unique constraint uq_customer_kpi_name on kpi_reference_ranges is missing: "
                f"two rows of one customer for one KPI{also} would be accepted",
            )
        )
    elif constraint != _PAIR:
        problems.append((R.name, f"uq_customer_kpi_name covers {constraint}, not {_PAIR}"))
    elif schema.unique_index(R.name, _PAIR) is None:
        problems.append((R.name, "no unique index enforces uq_customer_kpi_name"))
    # one system default per KPI: NULLS NOT DISTINCT (PostgreSQL) or a partial unique
    # index (SQLite)
    if postgresql:
        backing = schema.index(R.name, "uq_customer_kpi_name")
        if constraint is not None and (backing is None or not backing.nulls_not_distinct):
            problems.append(
                (
                    R.name,
                    "uq_customer_kpi_name is not NULLS NOT DISTINCT: two system defaults for "
                    "one KPI would be accepted",
                )
            )
    else:
        partial = schema.index(R.name, "uq_default_kpi_name")
        if partial is None:
            problems.append(
                (
                    R.name,
                    "partial unique index uq_default_kpi_name (kpi_name WHERE customer_id IS "
                    "NULL) is missing: two system defaults for one KPI would be accepted",
                )
            )
        elif (
            not partial.unique
            or partial.columns != ("kpi_name",)
            or _normalise(partial.predicate) != "customer_id is null"
        ):
            found = f"{'UNIQUE ' if partial.unique else ''}{partial.columns}"
            problems.append(
                (
                    R.name,
                    "index uq_default_kpi_name is not UNIQUE (kpi_name) WHERE customer_id IS "
                    f"NULL (found {found} WHERE {partial.predicate})",
                )
            )
    index = schema.index(R.name, "idx_ref_range_customer_kpi")
    if index is None:
        problems.append(
            (R.name, "index idx_ref_range_customer_kpi on kpi_reference_ranges is missing")
        )
    elif index.columns != _PAIR:
        problems.append((R.name, f"idx_ref_range_customer_kpi covers {index.columns}"))
    observation_key = ("customer_id", "kpi_name", "observed_at")
    if schema.unique_index(kpi_observations.name, observation_key) is None:
        problems.append(
            (
                kpi_observations.name,
                "kpi_observations has no unique constraint on (customer_id, kpi_name, observed_at)",
            )
        )
    # every tenant table: customer_id references customers ON DELETE CASCADE
    for table in TENANT_TABLES:
        fk = next(
            (
                fk
                for fk in schema.foreign_keys
                if (fk.table, fk.columns, fk.ref_table) == (table, ("customer_id",), customers.name)
            ),
            None,
        )
        if fk is None:
            problems.append(
                (
                    table,
                    f"{table}.customer_id has no foreign key to customers: rows of unknown "
                    "customers would be accepted",
                )
            )
            continue
        if fk.ref_columns != ("customer_id",):
            problems.append((table, f"{table}.customer_id references customers{fk.ref_columns}"))
        if fk.on_delete != "CASCADE":
            problems.append(
                (
                    table,
                    f"{table}.customer_id references customers without ON DELETE CASCADE "
                    f"(ON DELETE {fk.on_delete}): removing a customer would leave its rows",
                )
            )
        if not fk.valid:
            problems.append((table, f"the foreign key {fk.name} of {table} is NOT VALID"))
    if db.is_sqlite(conn) and not schema.sqlite_foreign_keys:
        problems.append(
            (
                None,
                "PRAGMA foreign_keys is OFF on this connection: SQLite would accept rows of "
                "unknown customers and ignore ON DELETE CASCADE",
            )
        )
    violations = tuple(Violation(message, table=table) for table, message in problems)
    return CheckResult("schema_constraints", violations)


_PG_INDEXES = text(
    """
    SELECT t.relname AS table_name, ic.relname AS index_name, ix.indisunique,
           ix.indnullsnotdistinct,
           ARRAY(SELECT a.attname::text
                 FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos)
                 JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
                 ORDER BY k.pos) AS columns,
           pg_get_expr(ix.indpred, ix.indrelid) AS predicate
    FROM pg_index ix
    JOIN pg_class ic ON ic.oid = ix.indexrelid
    JOIN pg_class t ON t.oid = ix.indrelid
    WHERE t.oid IN (SELECT to_regclass(name) FROM unnest(CAST(:tables AS text[])) AS name)
    """
)
_PG_CONSTRAINTS = text(
    """
    SELECT t.relname AS table_name, con.conname, con.contype, con.confdeltype,
           con.convalidated, ref.relname AS ref_table,
           ARRAY(SELECT a.attname::text
                 FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, pos)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                 ORDER BY k.pos) AS columns,
           ARRAY(SELECT a.attname::text
                 FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, pos)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                 ORDER BY k.pos) AS ref_columns
    FROM pg_constraint con
    JOIN pg_class t ON t.oid = con.conrelid
    LEFT JOIN pg_class ref ON ref.oid = con.confrelid
    WHERE con.contype IN ('u', 'f')
      AND t.oid IN (SELECT to_regclass(name) FROM unnest(CAST(:tables AS text[])) AS name)
    """
)
_PG_ON_DELETE = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


def _read_pg_schema(conn: Connection) -> _Schema:
    tables = {"tables": list(TENANT_TABLES)}
    schema = _Schema()
    for row in conn.execute(_PG_INDEXES, tables):
        schema.indexes.append(
            _Index(
                row.table_name,
                row.index_name,
                bool(row.indisunique),
                tuple(row.columns),
                bool(row.indnullsnotdistinct),
                row.predicate,
            )
        )
    for row in conn.execute(_PG_CONSTRAINTS, tables):
        if row.contype == "u":
            schema.unique_constraints[(row.table_name, row.conname)] = tuple(row.columns)
        else:
            schema.foreign_keys.append(
                _ForeignKey(
                    row.table_name,
                    row.conname,
                    tuple(row.columns),
                    row.ref_table,
                    tuple(row.ref_columns),
                    _PG_ON_DELETE.get(row.confdeltype, row.confdeltype),
                    bool(row.convalidated),
                )
            )
    return schema


_SQLITE_TABLES = text(
    """
    SELECT m.name AS table_name, m.sql, fk.id AS fk_id, fk."table" AS ref_table,
           fk."from" AS column_name, fk."to" AS ref_column, fk.on_delete,
           (SELECT foreign_keys FROM pragma_foreign_keys) AS foreign_keys
    FROM sqlite_master AS m
    LEFT JOIN pragma_foreign_key_list(m.name) AS fk
    WHERE m.type = 'table' AND m.name IN (SELECT value FROM json_each(:tables))
    ORDER BY m.name, fk.id, fk.seq
    """
)
_SQLITE_INDEXES = text(
    """
    SELECT m.name AS table_name, il.name AS index_name, il."unique", il.origin,
           il.partial, ii.name AS column_name, ix.sql
    FROM sqlite_master AS m
    JOIN pragma_index_list(m.name) AS il
    JOIN pragma_index_info(il.name) AS ii
    LEFT JOIN sqlite_master AS ix ON ix.type = 'index' AND ix.name = il.name
    WHERE m.type = 'table' AND m.name IN (SELECT value FROM json_each(:tables))
    ORDER BY m.name, il.name, ii.seqno
    """
)
_SQLITE_NAMED_UNIQUE = re.compile(
    r'CONSTRAINT\s+["`\[]?(?P<name>\w+)["`\]]?\s+UNIQUE\s*\((?P<cols>[^)]*)\)', re.I
)
_SQLITE_WHERE = re.compile(r"\bWHERE\b(?P<pred>.*)$", re.I | re.S)


def _read_sqlite_schema(conn: Connection) -> _Schema:
    tables = {"tables": json.dumps(list(TENANT_TABLES))}
    schema = _Schema()
    fks: dict[tuple[str, int], list[Any]] = defaultdict(list)
    table_sql: dict[str, str] = {}
    for row in conn.execute(_SQLITE_TABLES, tables):
        schema.sqlite_foreign_keys = bool(row.foreign_keys)
        table_sql[row.table_name] = row.sql or ""
        if row.fk_id is not None:
            fks[(row.table_name, row.fk_id)].append(row)
    for (table_name, _fk_id), parts in fks.items():
        schema.foreign_keys.append(
            _ForeignKey(
                table_name,
                None,
                tuple(p.column_name for p in parts),
                parts[0].ref_table,
                tuple(p.ref_column for p in parts),
                (parts[0].on_delete or "NO ACTION").upper(),
                True,
            )
        )
    # SQLite keeps a constraint's name only in the CREATE TABLE text; its index is an
    # anonymous sqlite_autoindex_* (found by its columns through pragma_index_list).
    for table_name, sql in table_sql.items():
        for match in _SQLITE_NAMED_UNIQUE.finditer(sql):
            columns = tuple(c.strip().strip('"`[]') for c in match.group("cols").split(","))
            schema.unique_constraints[(table_name, match.group("name"))] = columns
    indexes: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in conn.execute(_SQLITE_INDEXES, tables):
        indexes[(row.table_name, row.index_name)].append(row)
    for (table_name, index_name), parts in indexes.items():
        first = parts[0]
        predicate = None
        if first.partial:
            where = _SQLITE_WHERE.search(first.sql or "")
            predicate = where.group("pred").strip() if where else (first.sql or "?")
        schema.indexes.append(
            _Index(
                table_name,
                index_name,
                bool(first.unique),
                tuple(p.column_name for p in parts),
                False,
                predicate,
            )
        )
    return schema


def _normalise(sql: str | None) -> str:
    return re.sub(r"\s+", " ", (sql or "").replace('"', "")).strip().strip("()").lower()


# -- row_level_security (PostgreSQL) -------------------------------------------------

# Each kpictl policy's USING expression as PostgreSQL deparses what migration 0002
# creates. A policy that reads exactly so treats every customer alike: the catalog then
# proves for all customers what the probe shows for a few (see _row_level_security).
_SESSION_CUSTOMER = (
    f"(NULLIF(current_setting('{CUSTOMER_SETTING}'::text, true), ''::text))::integer"
)
POLICY_USING = {
    "kpi_reference_ranges": f"((customer_id IS NULL) OR (customer_id = {_SESSION_CUSTOMER}))",
    "kpi_observations": f"(customer_id = {_SESSION_CUSTOMER})",
    "health_scores": f"(customer_id = {_SESSION_CUSTOMER})",
}

_RLS_CATALOG = text(
    """
    WITH tenant AS (
        SELECT oid, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role
    )
    SELECT t.name AS table_name,
           c.oid IS NOT NULL AS table_exists,
           c.relrowsecurity,
           pg_get_userbyid(c.relowner) AS owner,
           row_security_active(c.oid) AS active_for_checker,
           current_user AS checker,
           tr.oid IS NOT NULL AS role_exists,
           tr.rolsuper, tr.rolbypassrls,
           pg_has_role(tr.oid, c.relowner, 'USAGE') AS role_acts_as_owner,
           has_table_privilege(tr.oid, c.oid, 'SELECT') AS role_can_select,
           pg_has_role(current_user, tr.oid, 'MEMBER') AS checker_is_member,
           p.polname IS NOT NULL AS policy_exists,
           p.polpermissive,
           p.polcmd,
           ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
                 FROM unnest(p.polroles) AS r) AS policy_roles,
           tr.oid = ANY (p.polroles) AS policy_applies_to_role,
           -- the policies that filter the tenant's SELECTs, but kpictl's own one when it
           -- is permissive and reads exactly as migration 0002 wrote it
           ARRAY(SELECT o.polname::text
                 FROM pg_policy AS o
                 WHERE o.polrelid = c.oid
                   AND o.polcmd IN ('r', '*')
                   AND (0 = ANY (o.polroles)
                        OR EXISTS (SELECT FROM unnest(o.polroles) AS r
                                   WHERE r <> 0 AND pg_has_role(tr.oid, r, 'MEMBER')))
                   AND NOT (o.polname = :policy AND o.polpermissive
                            AND pg_get_expr(o.polqual, o.polrelid) = t.expected_using)
                 ORDER BY o.polname) AS unproven_policies
    FROM unnest(CAST(:tables AS text[]), CAST(:using AS text[])) AS t(name, expected_using)
    LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
    LEFT JOIN tenant tr ON true
    LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = :policy
    """
)

# Run as kpictl_tenant: for one probe customer (NULL: no setting), what a plain SELECT on
# each tenant table returns: own rows, defaults, and any row of another customer.
_PROBE_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.kpictl_rls_probe(probe integer)
RETURNS TABLE (table_name text, own bigint, defaults bigint, foreign_rows bigint,
               foreign_ids integer[], foreign_owners integer[], foreign_kpis text[])
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM set_config('{setting}', COALESCE(probe::text, ''), true);
    RETURN QUERY
        SELECT 'kpi_reference_ranges'::text,
               count(*) FILTER (WHERE r.customer_id = probe),
               count(*) FILTER (WHERE r.customer_id IS NULL),
               count(*) FILTER (WHERE r.customer_id IS DISTINCT FROM probe
                                  AND r.customer_id IS NOT NULL),
               (array_agg(r.range_id ORDER BY r.range_id)
                    FILTER (WHERE r.customer_id IS DISTINCT FROM probe
                              AND r.customer_id IS NOT NULL))[1:{sample}],
               (array_agg(DISTINCT r.customer_id)
                    FILTER (WHERE r.customer_id IS DISTINCT FROM probe
                              AND r.customer_id IS NOT NULL))[1:{sample}],
               (array_agg(DISTINCT r.kpi_name::text)
                    FILTER (WHERE r.customer_id IS DISTINCT FROM probe
                              AND r.customer_id IS NOT NULL))[1:{sample}]
        FROM kpi_reference_ranges AS r;
    RETURN QUERY
        SELECT 'kpi_observations'::text,
               count(*) FILTER (WHERE o.customer_id = probe),
               0::bigint,
               count(*) FILTER (WHERE o.customer_id IS DISTINCT FROM probe),
               (array_agg(o.observation_id ORDER BY o.observation_id)
                    FILTER (WHERE o.customer_id IS DISTINCT FROM probe))[1:{sample}],
               (array_agg(DISTINCT o.customer_id)
                    FILTER (WHERE o.customer_id IS DISTINCT FROM probe))[1:{sample}],
               (array_agg(DISTINCT o.kpi_name::text)
                    FILTER (WHERE o.customer_id IS DISTINCT FROM probe))[1:{sample}]
        FROM kpi_observations AS o;
    RETURN QUERY
        SELECT 'health_scores'::text,
               count(*) FILTER (WHERE h.customer_id = probe),
               0::bigint,
               count(*) FILTER (WHERE h.customer_id IS DISTINCT FROM probe),
               (array_agg(h.score_id ORDER BY h.score_id)
                    FILTER (WHERE h.customer_id IS DISTINCT FROM probe))[1:{sample}],
               (array_agg(DISTINCT h.customer_id)
                    FILTER (WHERE h.customer_id IS DISTINCT FROM probe))[1:{sample}],
               NULL::text[]
        FROM health_scores AS h;
END
$fn$
"""
# Row ids and owners named per violation, and probes named per table (the rest are
# counted): the counts are always exact.
PROBE_SAMPLE = 10
PROBE_CUSTOMERS = 10  # customers probed when the catalog proves the policies uniform

# Who the probe runs as, read as the checker: the customers probed (no customer first)
# and, for each, what the tenant tables really hold of theirs. A temporary table: the
# probe, which runs as the tenant, compares with it in SQL and returns only what
# differs. The savepoint around the probe drops it.
_PROBE_SET = """
CREATE TEMPORARY TABLE kpictl_rls_probe_set ON COMMIT DROP AS
SELECT p.customer_id, p.slug,
       (SELECT count(*) FROM kpi_reference_ranges AS t
        WHERE t.customer_id = p.customer_id) AS own_ranges,
       (SELECT count(*) FROM kpi_observations AS t
        WHERE t.customer_id = p.customer_id) AS own_observations,
       (SELECT count(*) FROM health_scores AS t
        WHERE t.customer_id = p.customer_id) AS own_scores,
       (SELECT count(*) FROM kpi_reference_ranges AS t
        WHERE t.customer_id IS NULL) AS defaults
FROM (SELECT NULL::integer AS customer_id, NULL::text AS slug
      UNION ALL {customers}) AS p
"""
_SELECTED_CUSTOMERS = (
    "SELECT customer_id, slug::text FROM customers "
    "WHERE customer_id = ANY (CAST(:ids AS integer[]))"
)
_ALL_CUSTOMERS = "SELECT customer_id, slug::text FROM customers"
# :n customers spread evenly over the range of ids, by n index lookups (not a scan)
_SPREAD_CUSTOMERS = """
SELECT DISTINCT c.customer_id, c.slug::text
FROM (SELECT min(customer_id)::bigint AS lo, max(customer_id)::bigint AS hi
      FROM customers) AS b
CROSS JOIN generate_series(0, :n - 1) AS i
CROSS JOIN LATERAL (
    SELECT customer_id, slug FROM customers
    WHERE customer_id >= b.lo + (b.hi - b.lo) * i / greatest(:n - 1, 1)
    ORDER BY customer_id LIMIT 1
) AS c
"""

# Run as kpictl_tenant: every probe, compared in SQL with what is stored; only the
# probes that saw something wrong come back, the first :sample per table, each with
# the number of wrong probes of its table.
_PROBE = text(
    """
    WITH seen AS (
        SELECT e.customer_id AS probe_id, e.slug AS probe_slug, p.table_name, p.own,
               p.defaults, p.foreign_rows, p.foreign_ids, p.foreign_owners, p.foreign_kpis,
               CASE p.table_name WHEN 'kpi_reference_ranges' THEN e.own_ranges
                                 WHEN 'kpi_observations' THEN e.own_observations
                                 ELSE e.own_scores END AS expected_own,
               CASE p.table_name WHEN 'kpi_reference_ranges' THEN e.defaults
                                 ELSE 0 END AS expected_defaults
        FROM pg_temp.kpictl_rls_probe_set AS e
        CROSS JOIN LATERAL pg_temp.kpictl_rls_probe(e.customer_id) AS p
    ),
    wrong AS (
        SELECT seen.*,
               row_number() OVER (PARTITION BY table_name
                                  ORDER BY probe_id NULLS FIRST) AS nth,
               count(*) OVER (PARTITION BY table_name) AS wrong_probes
        FROM seen
        WHERE foreign_rows > 0 OR own <> expected_own OR defaults <> expected_defaults
    )
    SELECT * FROM wrong WHERE nth <= :sample ORDER BY table_name, nth
    """
)


def _row_level_security(conn: Connection, ids: list[int] | None) -> CheckResult:
    """The catalog side (RLS on, the policies, the role), then the probe as the tenant.

    The probe runs for real under ``kpictl_tenant``, for no customer and for: the
    selected customers; else every customer, unless the catalog proves that the policies
    treat all customers alike, and then for PROBE_CUSTOMERS customers spread over the
    ids. The catalog proves it when, on every tenant table, row-level security is off
    (then everyone sees everything) or the only policy filtering the tenant's SELECTs
    is kpictl's own, permissive, with exactly migration 0002's expression: it compares
    customer_id with the setting alone, so what one customer sees follows for every
    other. An extra or restrictive policy, or an edited expression, and every customer
    is probed.
    """
    name = "row_level_security"
    if db.is_sqlite(conn):
        return CheckResult(name, skipped=SQLITE_RLS_NOTE)
    if not db.is_postgresql(conn):
        return CheckResult(name, skipped=f"not applicable: {conn.dialect.name}")
    violations: list[Violation] = []

    def fail(message: str, table: str | None = None) -> None:
        violations.append(Violation(message, table=table))

    catalog = conn.execute(
        _RLS_CATALOG,
        {
            "role": TENANT_ROLE,
            "policy": POLICY_NAME,
            "tables": list(TENANT_TABLES),
            "using": [POLICY_USING[t] for t in TENANT_TABLES],
        },
    ).all()
    first = catalog[0]
    role_exists = bool(first.role_exists)
    if not role_exists:
        fail(f"role {TENANT_ROLE} does not exist: tenant-scoped reads cannot run")
    else:
        if first.rolsuper:
            fail(f"role {TENANT_ROLE} is a superuser: it bypasses row-level security")
        if first.rolbypassrls:
            fail(f"role {TENANT_ROLE} has BYPASSRLS: it bypasses row-level security")
        if not first.checker_is_member:
            fail(
                f"{first.checker} is not a member of {TENANT_ROLE}: kpictl cannot switch to "
                "it for tenant-scoped reads"
            )
    for row in catalog:
        table = row.table_name
        if not row.table_exists:
            fail(f"table {table} does not exist", table)
            continue
        if not row.relrowsecurity:
            fail(f"row-level security is off on {table}", table)
        if row.active_for_checker:
            fail(
                f"{row.checker}, which runs these checks, is itself subject to row-level "
                f"security on {table}: the checks would see only the rows it may read",
                table,
            )
        if not row.policy_exists:
            fail(f"policy {POLICY_NAME} is missing on {table}", table)
        elif role_exists and not row.policy_applies_to_role:
            roles = ", ".join(row.policy_roles) or "nobody"
            fail(f"policy {POLICY_NAME} on {table} applies to {roles}, not {TENANT_ROLE}", table)
        elif not row.polpermissive or row.polcmd not in ("r", "*"):
            fail(f"policy {POLICY_NAME} on {table} is not a permissive SELECT policy", table)
        if role_exists:
            if row.role_acts_as_owner:
                fail(
                    f"{TENANT_ROLE} owns {table} (or is a member of its owner "
                    f"{row.owner}): owners bypass row-level security",
                    table,
                )
            if not row.role_can_select:
                fail(f"{TENANT_ROLE} may not SELECT from {table}: tenant reads fail", table)
    if role_exists and first.checker_is_member:
        uniform = all(
            row.table_exists and (not row.relrowsecurity or not row.unproven_policies)
            for row in catalog
        )
        violations.extend(_probe(conn, ids, every_customer=not uniform))
    return CheckResult(name, tuple(violations))


def _probe(conn: Connection, ids: list[int] | None, *, every_customer: bool) -> list[Violation]:
    """Run the probe as the tenant role; what it sees, compared with what is stored."""
    params: dict[str, Any]
    if ids is not None:
        probed, params = _SELECTED_CUSTOMERS, {"ids": ids}
    elif every_customer:
        probed, params = _ALL_CUSTOMERS, {}
    else:
        probed, params = _SPREAD_CUSTOMERS, {"n": PROBE_CUSTOMERS}
    savepoint = conn.begin_nested()
    try:
        conn.exec_driver_sql(
            _PROBE_FUNCTION.replace("{setting}", CUSTOMER_SETTING).replace(
                "{sample}", str(PROBE_SAMPLE)
            )
        )
        conn.execute(text(_PROBE_SET.replace("{customers}", probed)), params)
        conn.exec_driver_sql(f"GRANT SELECT ON pg_temp.kpictl_rls_probe_set TO {TENANT_ROLE}")
        with tenant_scope(conn, None):
            wrong = conn.execute(_PROBE, {"sample": PROBE_SAMPLE}).all()
            active = conn.execute(
                text(
                    "SELECT name, row_security_active(name) AS active "
                    "FROM unnest(CAST(:tables AS text[])) AS name"
                ),
                {"tables": list(TENANT_TABLES)},
            ).all()
    except sa_exc.DBAPIError as exc:
        detail = str(exc.orig or exc).strip().splitlines()[0]
        return [Violation(f"the probe under {TENANT_ROLE} failed: {detail}")]
    finally:
        # drops the probe function and the probe set, undoes the role and the setting
        savepoint.rollback()
    violations = [
        Violation(
            f"row_security_active('{row.name}') is false under {TENANT_ROLE}: its reads "
            "of this table are not filtered",
            table=row.name,
        )
        for row in active
        if not row.active
    ]
    for row in wrong:
        violations.extend(_probe_violations(row))
        if row.nth == PROBE_SAMPLE and row.wrong_probes > PROBE_SAMPLE:
            violations.append(
                Violation(
                    f"under {TENANT_ROLE}, {row.table_name} also shows wrong rows to "
                    f"{row.wrong_probes - PROBE_SAMPLE} more probed customers (only the "
                    f"first {PROBE_SAMPLE} are listed)",
                    table=row.table_name,
                )
            )
    return violations


def _probe_violations(row: Any) -> list[Violation]:
    """What one probe saw wrong on one table: foreign rows, missing own rows or defaults."""
    who = f"customer {row.probe_slug}" if row.probe_id is not None else "no customer"

    def seen(what: str, **details: Any) -> Violation:
        return Violation(
            f"under {TENANT_ROLE} as {who}, {what}",
            table=row.table_name,
            customer=row.probe_slug,
            customer_id=row.probe_id,
            **details,
        )

    violations = []
    if row.foreign_rows:
        owners = ", ".join(str(o) for o in row.foreign_owners or [])
        kpis = list(row.foreign_kpis or [])
        sample = " (first ones)" if row.foreign_rows > len(row.foreign_ids or []) else ""
        violations.append(
            seen(
                f"SELECT * FROM {row.table_name} returns {row.foreign_rows} rows of other "
                f"customers (customer_id {owners}"
                + (f"; KPIs {', '.join(kpis)}" if kpis else "")
                + f"; {_PK[row.table_name]} {_ids(row.foreign_ids or [])}{sample})",
                kpi_name=kpis[0] if len(kpis) == 1 else None,
                row_ids=tuple(row.foreign_ids or ()),
            )
        )
    # the policies must also admit what is the tenant's: else its reads silently fall
    # back to defaults or see nothing
    if row.own != row.expected_own:
        violations.append(
            seen(f"{row.table_name} shows {row.own} of the customer's {row.expected_own} rows")
        )
    if row.defaults != row.expected_defaults:
        violations.append(
            seen(
                f"{row.table_name} shows {row.defaults} of the {row.expected_defaults} "
                "system defaults"
            )
        )
    return violations


# -- helpers -------------------------------------------------------------------------


def _ids(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _who(slug: str | None, customer_id: int | None) -> str:
    return slug if slug is not None else f"customer_id {customer_id} (not in customers)"
