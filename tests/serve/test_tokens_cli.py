"""kpictl tokens: issue prints the token once, list never shows it, revoke asks."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url
from kpictl.tokens import parse_duration


def stored(db_url: str) -> list[tuple]:
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    text("SELECT token_id, token_hash, label, revoked_at FROM api_tokens")
                )
            ]
    finally:
        engine.dispose()


def test_issue_stores_only_the_hash_and_list_never_shows_the_token(seeded, db_url: str) -> None:  # type: ignore[no-untyped-def]
    result = seeded("tokens", "issue", "--customer", "acme", "--label", "grafana")
    token = result.stdout.strip()
    assert result.stdout == token + "\n"  # stdout: the token alone, for $(...)
    assert "shown only now" in result.output
    (row,) = stored(db_url)
    assert row[1] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(stored(db_url))
    for output in ("table", "json", "yaml", "csv"):
        listed = seeded("tokens", "list", "-o", output).output
        assert token not in listed and row[1] not in listed
    (info,) = json.loads(seeded("tokens", "list", "--customer", "acme", "-o", "json").stdout)
    assert info["customer"] == "acme" and info["label"] == "grafana"
    assert info["state"] == "active" and info["expires_at"] is not None
    assert json.loads(seeded("tokens", "list", "-c", "globex", "-o", "json").stdout) == []


def test_two_tokens_differ(seeded) -> None:  # type: ignore[no-untyped-def]
    a = seeded("tokens", "issue", "--customer", "acme").stdout
    b = seeded("tokens", "issue", "--customer", "acme", "--expires", "never").stdout
    assert a != b
    listed = json.loads(seeded("tokens", "list", "-o", "json").stdout)
    assert [t["expires_at"] is None for t in listed] == [False, True]


def test_bad_input_is_exit_2_and_changes_nothing(seeded, db_url: str) -> None:  # type: ignore[no-untyped-def]
    seeded("tokens", "issue", "--customer", "acme")
    before = stored(db_url)
    for args in (
        ["tokens", "issue", "--customer", "nobody"],
        ["tokens", "issue", "--customer", "acme", "--expires", "soon"],
        ["tokens", "issue", "--customer", "acme", "--expires", "0d"],
        ["tokens", "issue", "--customer", "acme", "--label", "a\x1bb"],
        ["tokens", "revoke", "999", "--yes"],
        ["tokens", "revoke", "1"],  # no --yes and no terminal
        ["tokens", "list", "--customer", "nobody"],
    ):
        result = seeded(*args, expect=2)
        assert result.output.startswith("error: "), result.output
        assert "Traceback" not in result.output
    assert stored(db_url) == before


def test_revoke(seeded, db_url: str) -> None:  # type: ignore[no-untyped-def]
    seeded("tokens", "issue", "--customer", "acme")
    (token_id, *_rest) = stored(db_url)[0]
    result = seeded("tokens", "revoke", str(token_id), "--yes")
    assert f"revoked token {token_id} of acme" in result.output
    (info,) = json.loads(seeded("tokens", "list", "-o", "json").stdout)
    assert info["state"] == "revoked" and info["revoked_at"] is not None
    again = seeded("tokens", "revoke", str(token_id), "--yes")
    assert "already revoked" in again.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90d", 90 * 86400), ("12h", 43200), ("30m", 1800), ("2w", 14 * 86400), (" 1d ", 86400)],
)
def test_durations(text: str, seconds: int) -> None:
    duration = parse_duration(text)
    assert duration is not None and duration.total_seconds() == seconds
    assert parse_duration("never") is None
    for bad in ("", "d", "1y", "-1d", "1.5d", "9999999d"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_serve_refuses_a_database_without_kpictl_s_schema(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from typer.testing import CliRunner

    from kpictl.cli.app import app

    def serve(url: str):  # type: ignore[no-untyped-def]
        env = {"KPICTL_DATABASE_URL": url, "NO_COLOR": "1", "KPICTL_DEBUG": ""}
        return CliRunner().invoke(app, ["serve", "--port", "1"], env=env)

    missing = tmp_path / "missing.db"
    result = serve(f"sqlite:///{missing}")
    assert result.exit_code == 3, result.output
    assert "no database at" in result.output and "hint: run kpictl init" in result.output
    assert not missing.exists()  # serving never creates a database file
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = serve(f"sqlite:///{empty}")
    assert result.exit_code == 3, result.output
    assert "has no kpictl schema" in result.output and "hint: run kpictl init" in result.output
