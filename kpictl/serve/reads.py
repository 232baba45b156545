"""What a request of ``kpictl serve`` reads, each in one read-only transaction.

The customer comes from the token alone. The token is looked up as the connecting
role; the customer's rows are then read through the library's tenant-scoped reads
(``store.effective_ranges``, ``scoring.verbs.score_in_transaction``), which on PostgreSQL run
under ``SET LOCAL ROLE kpictl_tenant`` with ``kpictl.customer_id`` set: row-level
security decides what is visible. On SQLite the same queries filter by customer id.

Every connection of the serving engine is read-only: PostgreSQL transactions are
``REPEATABLE READ READ ONLY``, SQLite connections run with ``PRAGMA query_only``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from kpictl import store
from kpictl.backends import backend_of
from kpictl.db import engine as db
from kpictl.db.tenant import tenant_scope
from kpictl.errors import DatabaseError, KpictlError, UnknownKpi
from kpictl.rangefiles.model import KpiRange
from kpictl.scoring import ScoreCard
from kpictl.scoring import verbs as scores
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings
from kpictl.tokens import Caller, authenticate, record_last_used

log = logging.getLogger("kpictl.serve")

T = TypeVar("T")

# Connections the serving engine keeps open (PostgreSQL): uvicorn runs synchronous
# endpoints in a pool of 40 threads, and a request holds a connection only while it
# reads. The pool keeps 32 (connections past the pool size are closed when returned,
# and opening one costs more than a request: a pool of 16 gave a 500 ms p99 under 32
# concurrent clients), and opens up to 8 more under bursts.
POOL_SIZE = 32
POOL_OVERFLOW = 8
POOL_TIMEOUT_SECONDS = 10

# How often the last use of each token is written (outside any request transaction).
USAGE_FLUSH_SECONDS = 60.0


class Unauthorized(Exception):
    """No token, or one that is malformed, unknown, revoked or expired."""


class NotScorable(KpictlError):
    """The customer's score cannot be computed now (no scorable KPI, a missing value)."""


@dataclass(frozen=True, slots=True)
class Card:
    """What the score card page shows: the caller, its effective ranges, its score
    (None, with the reason, when it cannot be computed)."""

    caller: Caller
    ranges: list[store.RangeRow]
    score: ScoreCard | None
    reason: str | None


def serving_engine(settings: Settings) -> Engine:
    """A pooled engine whose transactions can only read."""
    url = db.driver_url(settings.database_url)
    db.make_engine(settings).dispose()  # the same URL checks as every command
    return backend_of(url).serving_engine(
        url,
        lock_seconds=db.lock_seconds(DEFAULT_LOCK_TIMEOUT),
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=POOL_TIMEOUT_SECONDS,
    )


class Reader:
    """The reads of the API, for one database; safe to call from many threads."""

    def __init__(self, settings: Settings, file_defaults: Mapping[str, KpiRange]) -> None:
        self.settings = settings
        self.file_defaults = dict(file_defaults)
        self.engine = serving_engine(settings)
        self.usage = UsageRecorder(settings)

    def close(self) -> None:
        self.usage.close()
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with (
            db.translate_errors(self.settings),
            self.engine.connect() as conn,
            conn.begin() as transaction,
        ):
            yield conn
            transaction.rollback()  # it read; nothing to commit

    def _as_caller(self, token: str | None, read: Callable[[Connection, Caller], T]) -> T:
        now = datetime.now(timezone.utc)
        with self._transaction() as conn:
            caller = authenticate(conn, token, now=now)
            if caller is None:
                raise Unauthorized()
            result = read(conn, caller)
        self.usage.used(caller.token_id, now)
        return result

    def caller(self, token: str | None) -> Caller:
        return self._as_caller(token, lambda _conn, caller: caller)

    def ranges(self, token: str | None, kpi: str | None = None) -> tuple[Caller, list[Any]]:
        """The caller's effective ranges (one KPI with ``kpi``; unknown: UnknownKpi)."""

        def read(conn: Connection, caller: Caller) -> tuple[Caller, list[Any]]:
            # the transaction ends after this read: no statements to leave the role
            with tenant_scope(conn, caller.customer_id, restore=False):
                rows = store.effective_ranges(
                    conn, _customer(caller), file_defaults=self.file_defaults, kpi=kpi
                )
            if kpi is not None and not rows:
                raise UnknownKpi(f"no reference range for KPI {kpi[:63]!r}")
            return caller, [row.as_dict() for row in rows]

        return self._as_caller(token, read)

    def score(self, token: str | None) -> tuple[Caller, ScoreCard]:
        """The caller's score now, from its latest observations."""

        def read(conn: Connection, caller: Caller) -> tuple[Caller, ScoreCard]:
            return caller, self._score(conn, caller)

        return self._as_caller(token, read)

    def card(self, token: str | None) -> Card:
        """Everything the score card page shows, in one transaction."""

        def read(conn: Connection, caller: Caller) -> Card:
            customer = _customer(caller)
            rows = store.effective_ranges(conn, customer, file_defaults=self.file_defaults)
            try:
                return Card(caller, rows, self._score(conn, caller), None)
            except NotScorable as exc:
                return Card(caller, rows, None, exc.message)

        return self._as_caller(token, read)

    def _score(self, conn: Connection, caller: Caller) -> ScoreCard:
        try:
            return scores.score_in_transaction(
                conn,
                _customer(caller),
                at=datetime.now(timezone.utc),
                file_defaults=self.file_defaults,
            )
        except DatabaseError:
            raise
        except KpictlError as exc:  # MissingValues, a malformed stored model
            raise NotScorable(exc.message) from None

    def healthy(self) -> bool:
        """Whether the database answers (``/healthz``)."""
        try:
            with self._transaction() as conn:
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except DatabaseError as exc:
            log.warning("health check failed: %s", exc.message)
            return False
        return True


def _customer(caller: Caller) -> store.Customer:
    return store.Customer(caller.customer_id, caller.slug, caller.name)


class UsageRecorder:
    """Keeps the last use of each token and writes them every USAGE_FLUSH_SECONDS
    (and at shutdown) in one statement: requests themselves never write."""

    def __init__(self, settings: Settings, interval: float = USAGE_FLUSH_SECONDS) -> None:
        self.settings = settings
        self.interval = interval
        self._pending: dict[int, datetime] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="token-usage", daemon=True)
        self._thread.start()

    def used(self, token_id: int, at: datetime) -> None:
        with self._lock:
            self._pending[token_id] = at

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            with (
                db.open_database(self.settings) as engine,
                db.write_transaction(engine, lock_timeout=5.0) as conn,
            ):
                record_last_used(conn, pending)
        except KpictlError as exc:
            log.warning("could not record token use: %s", exc.message)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
