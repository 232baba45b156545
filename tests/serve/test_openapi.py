"""The generated OpenAPI document is valid and documents every endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_openapi_document_is_valid_and_complete(served: Any) -> None:
    response = served.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)  # raises on an invalid document
    paths = document["paths"]
    assert set(paths) == {"/api/kpi-reference-ranges", "/api/health-score", "/healthz", "/"}
    ranges = paths["/api/kpi-reference-ranges"]["get"]
    assert {p["name"] for p in ranges["parameters"]} == {"kpi"}
    assert {"200", "401", "404", "503"} <= set(ranges["responses"])
    assert {"200", "401", "503"} <= set(paths["/api/health-score"]["get"]["responses"])
    assert ranges["security"] == [{"HTTPBearer": []}]
    assert "security" not in paths["/healthz"]["get"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from 'kpictl tokens issue'",
    }
    entry = document["components"]["schemas"]["RangeEntry"]["properties"]
    assert {"kpi_name", "critical_min", "healthy_max", "weight", "playbook", "source"} <= set(entry)
    # what the server answers has the documented keys
    body = served.get("/api/kpi-reference-ranges", served.tokens["acme"]).json()
    assert set(body["ranges"][0]) == set(entry)
    # no interactive docs: they would load scripts from a CDN
    assert served.get("/docs").status_code == 404
