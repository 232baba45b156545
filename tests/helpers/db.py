"""The database as a user with psql sees it: a plain connection (no kpictl connection
set-up), every row of every kpictl table, and rows and schema faults written by hand."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url

SNAPSHOT_TABLES = (
    "customers",
    "kpi_reference_ranges",
    "range_revisions",
    "kpi_observations",
    "health_scores",
)


@contextmanager
def raw(db_url: str) -> Iterator[Connection]:
    """A plain connection in one transaction, as a user with psql would have: no kpictl
    connection set-up (on SQLite: foreign keys off, SQLite's default)."""
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def is_pg(db_url: str) -> bool:
    return db_url.startswith("postgresql")


def snapshot(db_url: str) -> dict[str, list[tuple]]:
    """Every row of every kpictl table (absent tables as None): to prove nothing changed."""
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            out: dict[str, list[tuple]] = {}
            for table in SNAPSHOT_TABLES:
                if table in present:
                    rows = conn.execute(text(f"SELECT * FROM {table}")).all()
                    out[table] = sorted((tuple(r) for r in rows), key=repr)
            return out
    finally:
        engine.dispose()


def customer_ids(db_url: str) -> dict[str, int]:
    with raw(db_url) as conn:
        return dict(conn.execute(text("SELECT slug, customer_id FROM customers")).all())  # type: ignore[arg-type]


def range_id(db_url: str, slug: str | None, kpi: str) -> int:
    with raw(db_url) as conn:
        if slug is None:
            sql = (
                "SELECT range_id FROM kpi_reference_ranges "
                "WHERE customer_id IS NULL AND kpi_name = :k"
            )
            return conn.execute(text(sql), {"k": kpi}).scalar_one()
        sql = (
            "SELECT r.range_id FROM kpi_reference_ranges r JOIN customers c "
            "ON c.customer_id = r.customer_id WHERE c.slug = :s AND r.kpi_name = :k"
        )
        return conn.execute(text(sql), {"s": slug, "k": kpi}).scalar_one()


def insert_range(conn: Connection, customer_id: int | None, kpi: str) -> int:
    conn.execute(
        text(
            "INSERT INTO kpi_reference_ranges (customer_id, kpi_name, critical_max, weight, "
            "updated_at) VALUES (:c, :k, 1, 1, CURRENT_TIMESTAMP)"
        ),
        {"c": customer_id, "k": kpi},
    )
    return conn.execute(text("SELECT max(range_id) FROM kpi_reference_ranges")).scalar_one()


def sqlite_rebuild(db_url: str, table: str, edit: Callable[[str], str]) -> None:
    """Rebuild a SQLite table from its edited CREATE TABLE text (SQLite cannot drop a
    constraint in place): the documented create-copy-drop-rename procedure."""
    path = db_url.removeprefix("sqlite:///")
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA foreign_keys=OFF")
        con.execute("BEGIN")
        (sql,) = con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        index_sql = [
            r[0]
            for r in con.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (table,),
            )
        ]
        new_sql = edit(sql)
        assert new_sql != sql, "the edit changed nothing"
        con.execute(new_sql.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}__new", 1))
        con.execute(f"INSERT INTO {table}__new SELECT * FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}__new RENAME TO {table}")
        for statement in index_sql:
            con.execute(statement)
        con.execute("COMMIT")
    finally:
        con.close()


def drop_uq_customer_kpi_name(db_url: str) -> None:
    """Drop the (customer_id, kpi_name) unique constraint, so a pair can be stored twice."""
    if is_pg(db_url):
        with raw(db_url) as conn:
            conn.execute(
                text("ALTER TABLE kpi_reference_ranges DROP CONSTRAINT uq_customer_kpi_name")
            )
    else:
        sqlite_rebuild(
            db_url,
            "kpi_reference_ranges",
            lambda sql: sql.replace(
                "CONSTRAINT uq_customer_kpi_name UNIQUE (customer_id, kpi_name), ", ""
            ),
        )
