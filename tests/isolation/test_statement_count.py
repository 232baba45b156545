"""verify-isolation is set-based: as many SQL statements for 300 customers as for 3."""

from __future__ import annotations

from sqlalchemy import Engine, event, text

from kpictl import isolation
from kpictl.db import engine as db
from kpictl.settings import Settings
from tests.helpers.db import raw

# Customers made with bulk SQL (one INSERT ... SELECT each, not a seed per customer):
# a recursive CTE counts from `first` to `last` on both backends.
NEW_CUSTOMERS = """
INSERT INTO customers (slug, name, created_at)
WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last)
SELECT 'bulk-' || i, 'Bulk ' || i, CURRENT_TIMESTAMP FROM n
"""
THEIR_ROWS = [
    "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, critical_min, weight, updated_at) "
    "SELECT customer_id, 'error_rate_pct', 5, 1, CURRENT_TIMESTAMP FROM customers "
    "WHERE slug LIKE 'bulk-%' AND customer_id NOT IN "
    "(SELECT customer_id FROM kpi_reference_ranges WHERE customer_id IS NOT NULL)",
    "INSERT INTO kpi_observations (customer_id, kpi_name, observed_at, value) "
    "SELECT customer_id, 'error_rate_pct', CURRENT_TIMESTAMP, 2 FROM customers "
    "WHERE slug LIKE 'bulk-%' AND customer_id NOT IN (SELECT customer_id FROM kpi_observations)",
    "INSERT INTO health_scores (customer_id, computed_at, model, score, status) "
    "SELECT customer_id, CURRENT_TIMESTAMP, 'ranges', 50, 'risk' FROM customers "
    "WHERE slug LIKE 'bulk-%' AND customer_id NOT IN (SELECT customer_id FROM health_scores)",
]


def add_customers(url: str, first: int, last: int) -> None:
    with raw(url) as conn:
        conn.execute(text(NEW_CUSTOMERS), {"first": first, "last": last})
        for statement in THEIR_ROWS:
            conn.execute(text(statement))


def counted(settings: Settings) -> tuple[int, isolation.IsolationReport]:
    """verify-isolation, with every statement sent to the database counted."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        result = isolation.verify_isolation(settings)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    return len(statements), result


def test_the_statement_count_does_not_grow_with_customers(db_url) -> None:
    settings = Settings(database_url=db_url)
    db.initialise(settings)  # the schema: not part of the count (a read creates none)
    add_customers(db_url, 1, 3)
    few, result = counted(settings)
    assert result.ok, result.as_dict()

    add_customers(db_url, 4, 300)
    with raw(db_url) as conn:
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 300
    many, result = counted(settings)
    assert result.ok, result.as_dict()
    assert many == few

    # and a fault among the 300 is still found, by the same statements
    with raw(db_url) as conn:
        conn.execute(text("DROP INDEX idx_ref_range_customer_kpi"))
    faulty, result = counted(settings)
    assert faulty == few
    assert {c.name for c in result.failed} == {"schema_constraints"}
