"""Two customers' tokens against a real server: each sees its own rows and the
defaults, never the other's, whatever else the request carries."""

from __future__ import annotations

import http.client
import itertools
import json
from typing import Any

OTHER = {"acme": "data-center", "data-center": "acme"}


def cli_json(kpictl, *args: str):  # type: ignore[no-untyped-def]
    return json.loads(kpictl(*args, "-o", "json").stdout)


def test_ranges_are_the_callers_effective_ranges_and_defaults(served: Any, seeded) -> None:  # type: ignore[no-untyped-def]
    for slug, token in served.tokens.items():
        response = served.get("/api/kpi-reference-ranges", token)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["customer"] == slug
        # exactly what `kpictl list --customer SLUG` shows
        assert body["ranges"] == cli_json(seeded, "list", "--customer", slug)
        owners = {r["customer"] for r in body["ranges"]}
        assert owners <= {slug, None}
        assert OTHER[slug] not in json.dumps(body)
        sources = {r["source"] for r in body["ranges"]}
        assert "default" in sources  # the system defaults reach both customers
        assert len({r["kpi_name"] for r in body["ranges"]}) == len(body["ranges"])
    # data-center overrides error_rate_pct; acme must still see the default
    acme = served.get("/api/kpi-reference-ranges?kpi=error_rate_pct", served.tokens["acme"])
    center = served.get(
        "/api/kpi-reference-ranges?kpi=error_rate_pct", served.tokens["data-center"]
    )
    assert [r["source"] for r in center.json()["ranges"]] == ["customer"]
    assert acme.json()["ranges"][0]["source"] in ("default", "customer")
    assert acme.json()["ranges"] != center.json()["ranges"]


def test_health_score_is_the_score_command_s_json(served: Any, seeded) -> None:  # type: ignore[no-untyped-def]
    for slug, token in served.tokens.items():
        response = served.get("/api/health-score", token)
        assert response.status_code == 200, response.text
        api_card = response.json()
        cli_card = cli_json(seeded, "score", slug)
        for card in (api_card, cli_card):
            card.pop("at")  # computed "now": a moment apart
        assert api_card == cli_card
        assert api_card["customer"] == slug
        assert OTHER[slug] not in json.dumps(api_card)


CRAFTED_QUERIES = [
    "?customer=OTHER",
    "?customer_id=1&customer_id=2",
    "?slug=OTHER&tenant=OTHER",
    "?kpictl.customer_id=1",
    "?token=OTHER_TOKEN",
    "?customer=OTHER&customer=OTHER",
]


def test_crafted_query_strings_change_nothing(served: Any) -> None:
    for query, (slug, token) in itertools.product(CRAFTED_QUERIES, served.tokens.items()):
        other = OTHER[slug]
        crafted = query.replace("OTHER_TOKEN", served.tokens[other]).replace("OTHER", other)
        for path in ("/api/kpi-reference-ranges", "/api/health-score"):
            plain = served.get(path, token).json()
            got = served.get(path + crafted, token)
            assert got.status_code == 200, got.text
            body = got.json()
            body.pop("at", None)
            plain.pop("at", None)
            assert body == plain, (path, crafted)


def test_crafted_headers_change_nothing(served: Any) -> None:
    token = served.tokens["acme"]
    plain = served.get("/api/kpi-reference-ranges", token).json()
    crafted = {
        "X-Customer": "data-center",
        "X-Customer-Id": "1",
        "X-Tenant": "data-center",
        "X-Forwarded-User": "data-center",
        "Cookie": f"kpictl_token={served.tokens['data-center']}",
        "Kpictl-Customer-Id": "2",
    }
    got = served.get("/api/kpi-reference-ranges", token, headers=crafted)
    assert got.status_code == 200 and got.json() == plain
    # the cookie alone is no credential for the API
    only_cookie = served.get(
        "/api/kpi-reference-ranges",
        headers={"Cookie": f"kpictl_token={served.tokens['data-center']}"},
    )
    assert only_cookie.status_code == 401


def raw_get(server: Any, target: str, token: str) -> tuple[int, bytes]:
    """A request whose target goes out byte for byte (no client-side normalising)."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {token}")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


TRAVERSALS = [
    "/api/kpi-reference-ranges/../kpi-reference-ranges",
    "/api/kpi-reference-ranges/%2e%2e/%2e%2e/etc/passwd",
    "/api/../api/kpi-reference-ranges",
    "//api/kpi-reference-ranges",
    "/api/kpi-reference-ranges;customer=OTHER",
    "/api/kpi-reference-ranges/OTHER",
    "/api/OTHER/kpi-reference-ranges",
    "/api/kpi-reference-ranges%3Fcustomer=OTHER",
    "/api/kpi-reference-ranges?kpi=../../OTHER",
    "/api/kpi-reference-ranges?kpi=error_rate_pct%27%20OR%201=1--",
]


def test_crafted_paths_never_reach_another_customer(served: Any) -> None:
    for target, (slug, token) in itertools.product(TRAVERSALS, served.tokens.items()):
        other = OTHER[slug]
        status, body = raw_get(served, target.replace("OTHER", other), token)
        assert status in (200, 404), (target, status, body)
        text = body.decode()
        if status == 200:
            data = json.loads(text)
            assert data["customer"] == slug
            assert {r["customer"] for r in data["ranges"]} <= {slug, None}
        else:
            assert json.loads(text).keys() == {"error"}
        # another customer's slug shows only where the request itself echoed it
        assert f'"customer":"{other}"' not in text.replace(" ", "")


def test_removing_a_customer_removes_its_tokens(served: Any, seeded, db_url: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from kpictl.db.engine import driver_url

    token = served.tokens["acme"]
    assert served.get("/api/kpi-reference-ranges", token).status_code == 200
    listed = cli_json(seeded, "tokens", "list", "--customer", "acme")
    assert len(listed) == 1
    seeded("customers", "remove", "acme", "--yes")
    engine = create_engine(driver_url(db_url), poolclass=NullPool)
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM api_tokens")).scalar()
    engine.dispose()
    assert left == 1  # data-center's; acme's went with acme (ON DELETE CASCADE)
    assert [t["customer"] for t in cli_json(seeded, "tokens", "list")] == ["data-center"]
    assert served.get("/api/kpi-reference-ranges", token).status_code == 401
