"""kpictl serve: the tenant read API and score card page."""

from __future__ import annotations

from typing import Annotated

import typer

from kpictl.cli.context import app_context


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)
    ] = 8080,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.", min=1, max=64)] = 1,
) -> None:
    """Serve the read-only tenant API and score card page; a token names the customer.

    Endpoints: GET /api/kpi-reference-ranges[?kpi=NAME], GET /api/health-score,
    GET /healthz, GET / (score card page), GET /openapi.json.

    Example:

    \b
        kpictl serve --port 8080 &
        TOKEN=$(kpictl tokens issue --customer data-center --label dashboard)
        curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/kpi-reference-ranges
    """
    from kpictl.serve import serve as run

    app = app_context(ctx)
    run(app.settings, host=host, port=port, workers=workers)
