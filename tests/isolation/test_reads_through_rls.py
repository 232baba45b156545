"""Reading through row-level security by mistake (issue 14 §2, PostgreSQL): a login that
is not the tables' owner, not a superuser and has no BYPASSRLS sees no customer's rows,
without any error. Every read command refuses it (exit 3, with a hint), rather than
report an empty database as the truth; with BYPASSRLS the same login reads normally."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kpictl.settings import Settings
from tests.helpers.db import raw

ON_POSTGRESQL = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

READS = [
    ("list",),
    ("list", "--customer", "acme"),
    ("diff", "--all"),
    ("export", "--customer", "acme"),
    ("history",),
    ("score", "acme"),
    ("score", "--all"),
    ("customers", "list"),
    ("verify-isolation",),
]


@pytest.fixture
def reader(seeded: Settings) -> Iterator[str]:
    """A read-only login as the CI plan job would have: SELECT on everything, nothing else."""
    url = seeded.database_url
    name = f"kpictl_test_login_{uuid.uuid4().hex[:8]}"
    with raw(url) as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {name}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}"))
    try:
        yield name
    finally:
        with raw(url) as conn:
            conn.execute(text(f"DROP OWNED BY {name}"))
            conn.execute(text(f"DROP ROLE {name}"))


def as_login(url: str, name: str) -> str:
    return make_url(url).set(username=name).render_as_string(hide_password=False)


@ON_POSTGRESQL
@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_a_read_through_row_level_security_is_refused(kpictl, seeded, reader, command) -> None:
    kpictl.db_url = as_login(seeded.database_url, reader)
    result = kpictl(*command, expect=3)
    assert (
        f"error: role {reader} reads customers, health_scores, kpi_observations, "
        "kpi_reference_ranges through row-level security" in result.stderr
    )
    assert "hint: read as the owner of kpictl's tables, or as a role with BYPASSRLS" in (
        result.stderr
    )
    assert "Traceback" not in result.output


@ON_POSTGRESQL
def test_the_same_login_with_bypassrls_reads_what_is_stored(kpictl, seeded, reader) -> None:
    with raw(seeded.database_url) as conn:
        conn.execute(text(f"ALTER ROLE {reader} BYPASSRLS"))
    owner = kpictl("export", "--customer", "acme").stdout
    kpictl.db_url = as_login(seeded.database_url, reader)
    assert kpictl("export", "--customer", "acme").stdout == owner
    kpictl("diff", "--all")  # exit 0: the files and the database agree
