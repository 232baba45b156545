"""Tenant-scoped reads: on PostgreSQL they run as ``kpictl_tenant``, for one customer.

Inside :func:`tenant_scope` the transaction runs under ``SET LOCAL ROLE kpictl_tenant``
with the session setting ``kpictl.customer_id`` set to the customer (``set_config(...,
true)``, also transaction-local). The row-level security policies created by migration
0002 then admit only that customer's rows (and, for ranges, the system defaults), so a
query that forgets its customer filter still cannot return another customer's row.

On SQLite, which has neither roles nor row-level security, the scope is a no-op: there
isolation rests on kpictl's queries and is checked by ``verify-isolation``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from kpictl.backends import backend_of
from kpictl.db.schema import TENANT_TABLES
from kpictl.errors import DatabaseError

TENANT_ROLE = "kpictl_tenant"
CUSTOMER_SETTING = "kpictl.customer_id"
POLICY_NAME = "kpictl_tenant_isolation"

_SCOPE_KEY = "kpictl_tenant_scope"


@contextmanager
def tenant_scope(
    conn: Connection, customer_id: int | None, *, restore: bool = True
) -> Iterator[Connection]:
    """Run the block's statements as the tenant role, for ``customer_id``.

    ``None`` means no customer: the policies then admit only the system defaults.
    ``conn`` must be inside a transaction (not AUTOCOMMIT): the role and the setting
    are transaction-local. Scopes nest only for the same customer. ``restore=False``
    leaves the transaction under the tenant role after the block, for a caller that
    ends the transaction right after it (two statements saved per request).
    """
    backend = backend_of(conn)
    if not backend.supports_rls:
        yield conn
        return
    active = conn.info.get(_SCOPE_KEY)
    if active is not None:
        if active != (customer_id,):
            raise RuntimeError("a tenant scope for another customer is already active")
        yield conn
        return
    backend.enter_tenant(conn, customer_id)
    conn.info[_SCOPE_KEY] = (customer_id,)
    try:
        yield conn
    except BaseException:
        # No restoring statements after an error: PostgreSQL may have aborted the
        # transaction, which the caller rolls back. Until then the transaction stays
        # under the tenant role, the safe side to fail on.
        conn.info.pop(_SCOPE_KEY, None)
        raise
    conn.info.pop(_SCOPE_KEY, None)  # (the connection's info outlives the transaction)
    if not restore:
        return
    backend.leave_tenant(conn)


# The tables whose rows row-level security filters for roles that are neither their
# owner nor a superuser nor BYPASSRLS: those roles would read them as empty.
_FILTERED_TABLES = ("customers", *TENANT_TABLES)


def refuse_reads_through_rls(conn: Connection) -> None:
    """Refuse to read as a role that row-level security filters (PostgreSQL; one statement).

    kpictl reads all customers' rows as the connecting role and narrows to a tenant
    itself (``tenant_scope``). A role that is not the tables' owner, not a superuser
    and has no BYPASSRLS is filtered by the policies without any error: with no
    customer set it sees no customer's rows, and a read command would report an empty
    database as the truth (``diff`` every row deleted, ``export`` nothing). Exit 3.
    Outside a tenant scope only; a no-op on SQLite.
    """
    if conn.info.get(_SCOPE_KEY) is not None:
        return
    filtered = backend_of(conn).filtered_by_rls(conn, _FILTERED_TABLES)
    if filtered is None:
        return
    me, tables = filtered
    if tables:
        raise DatabaseError(
            f"role {me} reads {', '.join(tables)} through row-level security: it "
            "would see no customer's rows, and kpictl would report them as absent",
            hint="read as the owner of kpictl's tables, or as a role with BYPASSRLS and "
            f"SELECT on them (ALTER ROLE {me} BYPASSRLS; GRANT SELECT ON ALL TABLES IN "
            f"SCHEMA <schema> TO {me}); a superuser may grant BYPASSRLS",
        )
