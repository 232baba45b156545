"""Issue, list, revoke and check API tokens (the ``api_tokens`` table).

Tokens are written by ``kpictl tokens``; ``kpictl serve`` only reads them, except for
``last_used_at``, which it records in batches outside its request transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from kpictl.db import engine as db
from kpictl.db.schema import api_tokens, customers
from kpictl.errors import InvalidInput, UsageError
from kpictl.rangefiles.rules import control_character
from kpictl.settings import DEFAULT_LOCK_TIMEOUT, Settings
from kpictl.times import iso_or_none
from kpictl.tokens.secret import new_token, same_hash, token_hash, well_formed

T = api_tokens
MAX_LABEL = 200


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _iso(value: datetime | None) -> str | None:
    value = _utc(value)
    return iso_or_none(value)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as ``tokens list`` shows it: everything but the token."""

    token_id: int
    customer: str
    label: str | None
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        expires = _utc(self.expires_at)
        if expires is not None and expires <= now:
            return "expired"
        return "active"

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "customer": self.customer,
            "label": self.label,
            "state": self.state(now or _utcnow()),
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
        }


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: the only time the token itself exists outside its holder."""

    token: str
    info: TokenInfo


def _check_label(label: str | None) -> None:
    if label is None:
        return
    if len(label) > MAX_LABEL:
        raise UsageError(f"--label is longer than {MAX_LABEL} characters")
    if bad := control_character(label):
        raise UsageError(f"--label must not contain control characters, got {bad}")


def issue(
    settings: Settings,
    customer: str,
    *,
    expires_in: timedelta | None,
    label: str | None = None,
) -> IssuedToken:
    """Make a token for ``customer`` and store its hash; the token is returned once."""
    from kpictl import store

    _check_label(label)
    token = new_token()
    now = _utcnow()
    expires = now + expires_in if expires_in is not None else None
    with (
        db.open_database(settings, write=True) as engine,
        db.write_transaction(engine, lock_timeout=DEFAULT_LOCK_TIMEOUT) as conn,
    ):
        found = store.get_customer(conn, customer)
        token_id = conn.execute(
            T.insert()
            .values(
                customer_id=found.customer_id,
                token_hash=token_hash(token),
                label=label,
                created_at=now,
                expires_at=expires,
            )
            .returning(T.c.token_id)
        ).scalar_one()
    return IssuedToken(token, TokenInfo(token_id, found.slug, label, now, expires, None, None))


def _listing() -> Any:
    return (
        select(
            T.c.token_id,
            customers.c.slug,
            T.c.label,
            T.c.created_at,
            T.c.expires_at,
            T.c.last_used_at,
            T.c.revoked_at,
        )
        .join(customers, customers.c.customer_id == T.c.customer_id)
        .order_by(customers.c.slug, T.c.token_id)
    )


def list_tokens(settings: Settings, *, customer: str | None = None) -> list[TokenInfo]:
    """Every token (of one customer), never the token itself: it is not stored."""
    from kpictl import store

    with db.open_database(settings) as engine, db.read_transaction(engine) as conn:
        query = _listing()
        if customer is not None:
            query = query.where(T.c.customer_id == store.get_customer(conn, customer).customer_id)
        return [TokenInfo(*row) for row in conn.execute(query)]


def revoke(settings: Settings, token_id: int) -> tuple[TokenInfo, bool]:
    """Revoke a token at once (the row stays, for the record). Returns the token and
    whether it was active until now."""
    with (
        db.open_database(settings, write=True) as engine,
        db.write_transaction(engine, lock_timeout=DEFAULT_LOCK_TIMEOUT) as conn,
    ):
        row = conn.execute(_listing().where(T.c.token_id == token_id)).first()
        if row is None:
            raise InvalidInput(
                f"no token with id {token_id}", hint="'kpictl tokens list' shows the tokens"
            )
        info = TokenInfo(*row)
        if info.revoked_at is not None:
            return info, False
        now = _utcnow()
        conn.execute(update(T).where(T.c.token_id == token_id).values(revoked_at=now))
    return TokenInfo(*(*row[:6], now)), True


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request's token belongs to."""

    token_id: int
    customer_id: int
    slug: str
    name: str


_LOOKUP = (
    select(
        T.c.token_id,
        T.c.token_hash,
        T.c.expires_at,
        T.c.revoked_at,
        customers.c.customer_id,
        customers.c.slug,
        customers.c.name,
    )
    .join(customers, customers.c.customer_id == T.c.customer_id)
    .where(T.c.token_hash == bindparam("h"))
)


def authenticate(conn: Connection, token: str | None, *, now: datetime) -> Caller | None:
    """The caller a token stands for, or None: missing, malformed, unknown, revoked
    or expired (one answer for all, so that nothing tells which tokens exist)."""
    if token is None or not well_formed(token):
        return None
    digest = token_hash(token)
    row = conn.execute(_LOOKUP, {"h": digest}).first()
    if row is None or not same_hash(row.token_hash, digest):
        return None
    if row.revoked_at is not None:
        return None
    expires = _utc(row.expires_at)
    if expires is not None and expires <= now:
        return None
    return Caller(row.token_id, row.customer_id, row.slug, row.name)


def record_last_used(conn: Connection, used: Mapping[int, datetime]) -> None:
    """Set ``last_used_at`` of many tokens in one statement."""
    if used:
        conn.execute(
            update(T)
            .where(T.c.token_id == bindparam("b_id"))
            .values(last_used_at=bindparam("b_at")),
            [{"b_id": token_id, "b_at": at} for token_id, at in used.items()],
        )
