"""The ASGI application of ``kpictl serve`` (FastAPI, served by uvicorn).

Endpoints are synchronous functions: FastAPI runs them in its thread pool, each
request in one read-only transaction (:mod:`kpictl.serve.reads`). Answers are built
as JSON responses directly; the pydantic models below only document them in the
generated OpenAPI document.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpictl import __version__
from kpictl.errors import DatabaseError, UnknownKpi
from kpictl.serve.page import CSP, render_card
from kpictl.serve.reads import NotScorable, Reader, Unauthorized
from kpictl.settings import Settings

log = logging.getLogger("kpictl.serve")

COOKIE = "kpictl_token"
COOKIE_MAX_AGE = 8 * 3600
UNAUTHORIZED = "missing or invalid token"
UNAVAILABLE = "service unavailable"


# -- documented shapes (OpenAPI only) -------------------------------------------------


class Error(BaseModel):
    error: str


class Health(BaseModel):
    ok: bool


class RangeEntry(BaseModel):
    customer: str | None = Field(description="The row's owner: null for defaults and file")
    kpi_name: str
    critical_min: float | None
    critical_max: float | None
    risk_min: float | None
    risk_max: float | None
    healthy_min: float | None
    healthy_max: float | None
    weight: float
    playbook: str | None
    source: str = Field(description="customer | default | file")


class Ranges(BaseModel):
    customer: str
    ranges: list[RangeEntry]


class KpiStatus(BaseModel, extra="allow"):
    kpi_name: str
    value: float
    status: str
    weight: float | None
    points: float | None
    source: str | None


class Alert(BaseModel, extra="allow"):
    kpi_name: str
    status: str
    value: float
    playbook: str | None


class Skipped(BaseModel, extra="allow"):
    kpi_name: str
    reason: str


class HealthScore(BaseModel, extra="allow"):
    customer: str
    model: str
    score: float
    status: str
    kpis: list[KpiStatus]
    alerts: list[Alert]
    skipped: list[Skipped]


_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "A token from 'kpictl tokens issue'",
}
_SECURITY: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
_KPI_PARAMETER = {
    "name": "kpi",
    "in": "query",
    "required": False,
    "description": "One KPI only",
    "schema": {"type": "string"},
}
_TOKEN_PARAMETER = {
    "name": "token",
    "in": "query",
    "required": False,
    "description": "Traded for an HttpOnly cookie",
    "schema": {"type": "string"},
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "model": Error,
        "description": "No token, or a malformed, unknown, revoked or expired one",
    },
    503: {"model": Error, "description": "The database is unavailable"},
}


# -- the application --------------------------------------------------------------------


def create_app(settings: Settings, *, file_defaults: dict[str, Any] | None = None) -> FastAPI:
    """The application for one database. ``file_defaults``: the defaults file's ranges
    (the ``file`` source), read once at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reader = Reader(settings, file_defaults or {})
        app.state.reader = reader
        try:
            yield
        finally:
            reader.close()

    app = FastAPI(
        title="kpictl tenant read API",
        version=__version__,
        description="A customer's own KPI reference ranges (and the system defaults) and "
        "its health score, read-only. The customer is the token's: nothing in a request "
        "can name another one.",
        docs_url=None,  # the interactive docs load scripts from a CDN
        redoc_url=None,
        lifespan=lifespan,
    )

    def reader(request: Request) -> Reader:
        return request.app.state.reader  # type: ignore[no-any-return]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {"HTTPBearer": _BEARER}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # The endpoints read the token and the query themselves rather than through
    # FastAPI's dependencies: that costs a third of a request's CPU time. What they
    # take is documented in the OpenAPI document all the same (openapi_extra).
    @app.get(
        "/api/kpi-reference-ranges",
        response_model=Ranges,
        responses={**_ERRORS, 404: {"model": Error, "description": "No range for that KPI"}},
        summary="The caller's effective reference ranges",
        openapi_extra={"parameters": [_KPI_PARAMETER], "security": _SECURITY},
    )
    def kpi_reference_ranges(request: Request) -> Response:
        caller, rows = reader(request).ranges(bearer_token(request), _kpi(request))
        request.state.customer = caller.slug
        return _json({"customer": caller.slug, "ranges": rows})

    @app.get(
        "/api/health-score",
        response_model=HealthScore,
        responses={
            **_ERRORS,
            422: {"model": Error, "description": "The score cannot be computed now"},
        },
        summary="The caller's health score now, from its latest observations",
        openapi_extra={"security": _SECURITY},
    )
    def health_score(request: Request) -> Response:
        caller, card = reader(request).score(bearer_token(request))
        request.state.customer = caller.slug
        return _json(card.as_dict())

    @app.get(
        "/healthz",
        response_model=Health,
        responses={503: {"model": Health, "description": "The database does not answer"}},
        summary="Whether the server and its database answer (no token)",
    )
    def healthz(request: Request) -> Response:
        ok = reader(request).healthy()
        return _json({"ok": ok}, 200 if ok else 503)

    @app.get(
        "/",
        response_class=HTMLResponse,
        responses={
            **_ERRORS,
            303: {"description": "?token= traded for a cookie: back to / without it"},
        },
        summary="The caller's score card page",
        openapi_extra={"parameters": [_TOKEN_PARAMETER], "security": _SECURITY},
    )
    def score_card_page(request: Request) -> Response:
        token = request.query_params.get("token")
        if token is not None:
            # check it, then move it out of the URL (history, logs, Referer) into a cookie
            caller = reader(request).caller(token)
            request.state.customer = caller.slug
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(
                COOKIE,
                token,
                max_age=COOKIE_MAX_AGE,
                path="/",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
            _no_store(response)
            return response
        given = bearer_token(request) or request.cookies.get(COOKIE)
        card = reader(request).card(given)
        request.state.customer = card.caller.slug
        page = HTMLResponse(render_card(card))
        page.headers["Content-Security-Policy"] = CSP
        _no_store(page)
        return page

    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(UnknownKpi, _not_found)
    app.add_exception_handler(NotScorable, _not_scorable)
    app.add_exception_handler(DatabaseError, _unavailable(settings))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(Exception, _internal(settings))
    app.add_middleware(RequestLog)
    return app


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None without one."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    return credentials if scheme.lower() == "bearer" and credentials else None


def _kpi(request: Request) -> str | None:
    return request.query_params.get("kpi")


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json")


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"


def _error(status: int, message: str, **headers: str) -> Response:
    response = _json({"error": message}, status)
    response.headers.update(headers)
    return response


async def _unauthorized(_request: Request, _exc: Exception) -> Response:
    return _error(401, UNAUTHORIZED, **{"WWW-Authenticate": "Bearer"})


async def _not_found(_request: Request, exc: Exception) -> Response:
    return _error(404, str(exc))


async def _not_scorable(_request: Request, exc: Exception) -> Response:
    return _error(422, str(exc))


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _error(exc.status_code, str(exc.detail))


async def _bad_request(_request: Request, _exc: Exception) -> Response:
    return _error(400, "bad request")


def _unavailable(settings: Settings) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DatabaseError)
        log.error("%s %s: %s", request.method, _shown(request.url.path), settings.mask(exc.message))
        return _error(503, UNAVAILABLE)

    return handler


def _internal(settings: Settings) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error(
            "%s %s: unexpected error\n%s",
            request.method,
            _shown(request.url.path),
            settings.mask(trace),
        )
        return _error(500, "internal error")

    return handler


def _shown(path: str) -> str:
    """A path as logged: printable ASCII only (no forged log lines), at most 200 chars."""
    text = path.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= 200 else text[:200] + "..."


class RequestLog:
    """One log line per request: method, path (never the query: it may hold a token),
    status, duration, customer slug."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        scope.setdefault("state", {})

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            customer = scope["state"].get("customer") or "-"
            log.info(
                "%s %s %d %.1fms customer=%s",
                scope["method"],
                _shown(scope["path"]),
                status,
                (time.perf_counter() - start) * 1000,
                customer,
            )


def app_from_environment() -> FastAPI:
    """uvicorn's factory for ``--workers N``: each worker process builds its app from the
    environment ``kpictl serve`` set (KPICTL_DATABASE_URL, KPICTL_RANGES_DIR)."""
    from kpictl.rangefiles.rangedir import RangeDir

    settings = Settings.resolve()
    fallback = RangeDir(settings.ranges_dir).file_defaults()
    configure_logging()
    return create_app(settings, file_defaults=dict(fallback))


def configure_logging() -> None:
    handler_name = "kpictl-serve"
    root = logging.getLogger("kpictl")
    if any(h.get_name() == handler_name for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.set_name(handler_name)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(os.environ.get("KPICTL_LOG_LEVEL", "INFO").upper())
    root.propagate = False


__all__ = ["app_from_environment", "configure_logging", "create_app"]
