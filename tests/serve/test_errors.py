"""Bad tokens, unknown KPIs, a database outage: the answers, and what the log says."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from kpictl.db.engine import driver_url

UNAUTHORIZED = {"error": "missing or invalid token"}


def sql(
    db_url: str, *statements: str, database: str | None = None, params: dict | None = None
) -> None:
    url = db_url if database is None else db_url.rsplit("/", 1)[0] + "/" + database
    engine = create_engine(driver_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement), params or {})
    finally:
        engine.dispose()


def test_every_bad_token_is_the_same_401(served: Any, seeded, db_url: str) -> None:  # type: ignore[no-untyped-def]
    good = served.tokens["acme"]
    revoked = served.tokens["data-center"]
    tokens = seeded("tokens", "list", "-o", "json").stdout
    (center_id,) = [t["token_id"] for t in json.loads(tokens) if t["customer"] == "data-center"]
    assert served.get("/api/health-score", revoked).status_code == 200
    seeded("tokens", "revoke", str(center_id), "--yes")
    expired = seeded(
        "tokens", "issue", "--customer", "acme", "--expires", "1m", "--label", "expired"
    ).stdout.strip()
    past = datetime(2000, 1, 1, tzinfo=timezone.utc)
    sql(db_url, "UPDATE api_tokens SET expires_at = :t WHERE label = 'expired'", params={"t": past})
    cases = {
        "none": {},
        "empty bearer": {"Authorization": "Bearer"},
        "basic": {"Authorization": f"Basic {good}"},
        "no scheme": {"Authorization": good},
        "malformed": {"Authorization": "Bearer abc"},
        "too long": {"Authorization": f"Bearer {good}x"},
        "unknown": {"Authorization": f"Bearer kpi_{'A' * 43}"},
        "revoked": {"Authorization": f"Bearer {revoked}"},
        "expired": {"Authorization": f"Bearer {expired}"},
        "sql": {"Authorization": "Bearer ' OR '1'='1"},
    }
    for name, headers in cases.items():
        for path in ("/api/kpi-reference-ranges", "/api/health-score", "/"):
            response = served.get(path, headers=headers)
            assert response.status_code == 401, (name, path, response.text)
            assert response.json() == UNAUTHORIZED, (name, path)
            assert response.headers["www-authenticate"] == "Bearer"
    assert served.get("/?token=kpi_" + "B" * 43).status_code == 401
    assert served.get("/api/health-score", good).status_code == 200
    log = served.log()
    for token in (good, revoked, expired):
        assert token not in log


def test_unknown_kpi_and_unknown_path_are_404(served: Any) -> None:
    token = served.tokens["acme"]
    for kpi in ("no_such_kpi", "x" * 5000, "error_rate_pct'--"):
        response = served.get("/api/kpi-reference-ranges", token, params={"kpi": kpi})
        assert response.status_code == 404, response.text
        assert response.json().keys() == {"error"}
        assert len(response.text) < 200
    one = served.get("/api/kpi-reference-ranges?kpi=error_rate_pct", token).json()
    assert [r["kpi_name"] for r in one["ranges"]] == ["error_rate_pct"]
    missing = served.get("/api/nothing-here", token)
    assert missing.status_code == 404 and missing.json().keys() == {"error"}


def test_one_log_line_per_request_without_the_token(served: Any) -> None:
    token = served.tokens["acme"]
    served.get("/api/kpi-reference-ranges?kpi=error_rate_pct", token)
    served.get(f"/?token={token}", follow_redirects=False)
    served.get("/api/health-score")
    time.sleep(0.2)
    lines = served.log().splitlines()
    assert any(
        "GET /api/kpi-reference-ranges 200 " in line and "customer=acme" in line for line in lines
    )
    assert any("GET / 303 " in line and "customer=acme" in line for line in lines)
    assert any("GET /api/health-score 401 " in line and "customer=-" in line for line in lines)
    assert token not in served.log()
    assert "kpi=error_rate_pct" not in served.log()  # never the query string


def test_the_page_trades_the_token_for_a_cookie(served: Any) -> None:
    token = served.tokens["acme"]
    response = served.get(f"/?token={token}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and token.lower() in cookie
    assert response.headers["cache-control"] == "no-store"
    page = served.get("/", headers={"Cookie": f"kpictl_token={token}"})
    assert page.status_code == 200 and "Acme Corp" in page.text
    assert token not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    by_header = served.get("/", token)
    assert by_header.status_code == 200 and "Acme Corp" in by_header.text


def test_a_display_name_is_text_never_markup(seeded, start, issue_token) -> None:  # type: ignore[no-untyped-def]
    name = '<script>alert(1)</script><img src=x onerror="alert(2)">&amp;'
    seeded("customers", "add", "evil", "--name", name)
    token = issue_token(seeded, "evil")
    server = start(seeded.db_url, seeded.ranges_dir)
    page = server.get("/", token)
    assert page.status_code == 200, page.text
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x "
        "onerror=&quot;alert(2)&quot;&gt;&amp;amp;" in page.text
    )
    assert "<script" not in page.text and "<img" not in page.text
    ranges = server.get("/api/kpi-reference-ranges", token)
    assert ranges.status_code == 200 and ranges.json()["customer"] == "evil"


def test_requests_never_write(served: Any, db_url: str, db_snapshot) -> None:  # type: ignore[no-untyped-def]
    before = db_snapshot(db_url)
    for token in served.tokens.values():
        for path in ("/api/kpi-reference-ranges", "/api/health-score", "/", "/healthz"):
            assert served.get(path, token).status_code == 200
    assert db_snapshot(db_url) == before


def test_last_use_is_recorded_outside_requests(served: Any, seeded) -> None:  # type: ignore[no-untyped-def]
    import json

    assert served.get("/api/health-score", served.tokens["acme"]).status_code == 200
    assert served.stop() == 0  # a graceful stop writes the pending last uses
    listed = {t["customer"]: t for t in json.loads(seeded("tokens", "list", "-o", "json").stdout)}
    assert listed["acme"]["last_used_at"] is not None
    assert listed["data-center"]["last_used_at"] is None


def _outage(db_url: str, tmp_path) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    """Functions that take the database away and bring it back."""
    if db_url.startswith("postgresql"):
        name = db_url.rsplit("/", 1)[1]

        def down() -> None:
            sql(
                db_url,
                f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
                database="postgres",
            )

        def up() -> None:
            sql(db_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true', database="postgres")

        return down, up
    path = __import__("pathlib").Path(db_url.removeprefix("sqlite:///"))
    saved = tmp_path / "saved.db"

    def down_file() -> None:
        path.rename(saved)
        path.write_bytes(b"this is not a database " * 200)

    def up_file() -> None:
        saved.replace(path)

    return down_file, up_file


def test_database_outage_is_a_generic_503_and_recovers(  # type: ignore[no-untyped-def]
    seeded, start, issue_token, db_url: str, tmp_path
) -> None:
    token = issue_token(seeded, "acme")
    url = db_url
    if db_url.startswith("postgresql"):
        url = db_url.replace("postgres@", "postgres:s3cret-pw@", 1)  # trust auth ignores it
    server = start(url, seeded.ranges_dir)
    assert server.get("/api/kpi-reference-ranges", token).status_code == 200
    down, up = _outage(db_url, tmp_path)
    down()
    try:
        health = server.get("/healthz")
        assert health.status_code == 503 and health.json() == {"ok": False}
        for path in ("/api/kpi-reference-ranges", "/api/health-score", "/"):
            response = server.get(path, token)
            assert response.status_code == 503, (path, response.text)
            assert response.json() == {"error": "service unavailable"}
    finally:
        up()
    assert server.get("/healthz").json() == {"ok": True}
    assert server.get("/api/kpi-reference-ranges", token).status_code == 200
    log = server.log()
    assert "s3cret-pw" not in log
    assert "GET /api/kpi-reference-ranges 503" in log
    if db_url.startswith("postgresql"):
        assert "***" in log or "accepting connections" in log


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_postgresql_itself_isolates_revoking_the_tenant_role_s_select_breaks_ranges(  # type: ignore[no-untyped-def]
    seeded, start, issue_token, db_url: str
) -> None:
    token = issue_token(seeded, "acme")
    server = start(db_url, seeded.ranges_dir)
    assert server.get("/api/kpi-reference-ranges", token).status_code == 200
    # per database: this test's own database, not the cluster-wide role itself
    sql(db_url, "REVOKE SELECT ON kpi_reference_ranges FROM kpictl_tenant")
    try:
        broken = server.get("/api/kpi-reference-ranges", token)
        assert broken.status_code == 503, broken.text  # it reads as kpictl_tenant
        assert broken.json() == {"error": "service unavailable"}
        assert server.get("/api/health-score", token).status_code == 503
        assert server.get("/healthz").status_code == 200  # the database itself answers
        assert "permission denied" in server.log()
    finally:
        sql(db_url, "GRANT SELECT ON kpi_reference_ranges TO kpictl_tenant")
    again = server.get("/api/kpi-reference-ranges", token)
    assert again.status_code == 200 and again.json()["customer"] == "acme"
