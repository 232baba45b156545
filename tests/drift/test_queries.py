"""diff is set-based: its number of queries does not grow with the customers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event

from kpictl import drift
from kpictl.settings import Settings


@contextmanager
def counting() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def add_customers(ranges_dir: Path, sql, start: int, n: int) -> None:
    """n more customer files (copies of acme) and n more customers without a file."""
    for i in range(start, start + n):
        text = (ranges_dir / "customers" / "acme.yaml").read_text()
        text = text.replace("customer: acme", f"customer: c{i}")
        (ranges_dir / "customers" / f"c{i}.yaml").write_text(text)
    values = ", ".join(
        f"('orphan-{i}', 'Orphan {i}', CURRENT_TIMESTAMP)" for i in range(start, start + n)
    )
    sql(f"INSERT INTO customers (slug, name, created_at) VALUES {values}")


def test_diff_all_queries_do_not_grow_with_customers(kpictl, ranges_dir, db_url, sql) -> None:
    settings = Settings(database_url=db_url, ranges_dir=ranges_dir)
    kpictl("init")
    add_customers(ranges_dir, sql, 0, 2)
    kpictl("seed", "--all")
    with counting() as few:
        small = drift.diff(settings)
    add_customers(ranges_dir, sql, 2, 60)
    kpictl("seed", "--all")
    with counting() as many:
        large = drift.diff(settings)
    assert len(large.scopes) == len(small.scopes) + 60
    assert len(large.customers_without_file) == 62
    assert len(many) == len(few), "\n".join(many)
    assert len(few) <= 12, "\n".join(few)


def test_diff_against_and_export_are_a_few_queries(kpictl, ranges_dir, db_url) -> None:
    from kpictl import export

    settings = Settings(database_url=db_url, ranges_dir=ranges_dir)
    kpictl("seed", "--all")
    with counting() as statements:
        drift.compare(settings, "acme", "data-center")
        export.export(settings, customer="data-center")
    assert len(statements) <= 20, "\n".join(statements)


def test_the_cli_modules_import_no_database_layer() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from kpictl.cli.app import app\n"
        "try:\n"
        "    app(['diff', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_core_imports_neither_typer_nor_rich() -> None:
    import subprocess
    import sys

    code = (
        "import sys, kpictl.drift, kpictl.export\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
