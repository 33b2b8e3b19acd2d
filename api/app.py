"""``create_app(settings)``: the hub's FastAPI application; nothing is built at import time.

The lifespan opens :func:`api.services.open_services` and keeps the result on
``app.state.services`` (routes reach it through api/deps.py); the routers are
:data:`ROUTERS`, one per module of api/routes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siaga.api.body_limit import BodyLimit, route_path
from siaga.api.errors import PROBLEM_JSON, install_problem_handlers, problem_responses
from siaga.api.routes import (
    admin,
    agencies,
    auth,
    cap,
    dashboard,
    docs,
    incidents,
    ingest,
    notify,
    registry,
    report_page,
    reports,
    stream,
    system,
    telemetry,
)
from siaga.api.security_headers import SecurityHeaders
from siaga.api.services import HubServices, open_services
from siaga.api.settings import HubSettings
from siaga.api.version import VERSION

__all__ = ["ROUTERS", "create_app"]


# The routers the app includes, in this order (the order of the OpenAPI document).
ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    auth.router,
    registry.router,
    stream.router,
    ingest.router,
    telemetry.router,
    incidents.router,
    reports.router,
    cap.router,
    agencies.router,
    notify.router,
    admin.router,
    dashboard.router,
    report_page.router,
    docs.router,
)


class RequestMetrics:
    """Counts requests by route template and status, and times them (pure ASGI: streams pass)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        streaming = False

        async def send_status(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                streaming = any(k.lower() == b"content-type" and v.startswith(b"text/event-stream")
                                for k, v in message.get("headers", ()))
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            services: HubServices | None = getattr(scope["app"].state, "services", None)
            if services is not None:
                route = scope.get("route")
                path = getattr(route, "path", None) or "(unmatched)"
                labels = {"method": scope["method"], "route": path}
                metrics = services.metrics
                metrics.counter("siaga_http_requests_total", "HTTP requests answered",
                                ("method", "route", "status")).inc(**labels, status=status)
                # A live stream lasts as long as the client stays; it is no answer time.
                if not streaming:
                    metrics.histogram("siaga_http_request_seconds",
                                      "Time to answer an HTTP request", ("method", "route"),
                                      ).observe(time.perf_counter() - started, **labels)


def _openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    """FastAPI documents 422 as its own JSON shape; the hub answers problem+json everywhere."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes, servers=app.servers)
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in schema.get("paths", {}).values():
        for op in path_item.values():
            if not isinstance(op, dict):
                continue
            if "requestBody" in op:
                # A body that is not UTF-8 JSON at all never reaches validation.
                op["responses"].setdefault(
                    "400", {"description": "The body cannot be parsed as JSON"})
            for status, response in op.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    response["content"] = {PROBLEM_JSON: {"schema": problem_ref}}
                    if status == "422":
                        response["description"] = (
                            "Validation error: every invalid field is listed in `errors`")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


def _count_refused_report(scope: Scope) -> None:
    """An oversized citizen report is spam the reports counter must show (issue 13); the staff
    calls under the same prefix (triage, verify, reject) are not reports."""
    services: HubServices | None = getattr(scope["app"].state, "services", None)
    if services is not None and scope.get("method") == "POST" \
            and route_path(scope).rstrip("/") == "/api/v1/reports":
        services.reports.count("too_large")


def create_app(settings: HubSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            try:
                yield
            finally:
                del app.state.services

    app = FastAPI(
        title="Siaga hub",
        version=VERSION,
        description=(
            "Telemetry, incidents and response times for BPBD, PMK (Damkar), Satpol PP and "
            "Diskominfo. Errors are `application/problem+json` (RFC 9457)."
        ),
        lifespan=lifespan,
        docs_url=None,  # served by routes.docs from the hub's own copy of Swagger UI
        redoc_url=None,
        root_path=settings.server.root_path,
        responses=problem_responses(500),
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, default=settings.server.max_body_bytes,
                       limits=settings.route_body_limits(), on_refused=_count_refused_report)
    app.add_middleware(RequestMetrics)  # counts the 413s too
    # outermost: every answer, a 413 or a 500 included, carries the headers
    app.add_middleware(SecurityHeaders, tile_url=settings.dashboard.tile_url)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: _openapi_with_problems(app)  # type: ignore[method-assign]
    return app
