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

TENANT_ROLE = "kpictl_tenant"
CUSTOMER_SETTING = "kpictl.customer_id"
POLICY_NAME = "kpictl_tenant_isolation"

_SCOPE_KEY = "kpictl_tenant_scope"


@contextmanager
def tenant_scope(conn: Connection, customer_id: int | None) -> Iterator[Connection]:
    """Run the block's statements as the tenant role, for ``customer_id``.

    ``None`` means no customer: the policies then admit only the system defaults.
    ``conn`` must be inside a transaction (not AUTOCOMMIT): the role and the setting
    are transaction-local. Scopes nest only for the same customer.
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
    conn.info.pop(_SCOPE_KEY, None)
    backend.leave_tenant(conn)
