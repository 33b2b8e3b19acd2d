"""Request body limits enforced while the body streams in, before any route reads it.

Pure ASGI: a declared ``Content-Length`` over the route's limit is answered 413 at once,
without reading a byte; a chunked (or lying) body is counted chunk by chunk as the app
receives it and cut off with 413 the moment it passes the limit, so no route (FastAPI's JSON
parsing included) ever holds more than the limit in memory. Limits are per path prefix
(``server.body_limits``, longest prefix wins) with ``server.max_body_bytes`` for the rest;
the ingest routes get their ``ingest`` limits (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siaga.api.errors import problem_response

__all__ = ["BodyLimit", "route_path"]


def route_path(scope: Scope) -> str:
    """The request's path as the routes name it (without a proxy's ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


class BodyLimit:
    def __init__(self, app: ASGIApp, *, default: int, limits: Mapping[str, int],
                 on_refused: Callable[[Scope], None] | None = None) -> None:
        self.app = app
        # Told of every refusal, so a route's own counters (reports' too_large) still count
        # bodies this layer refuses before the route runs.
        self.on_refused = on_refused
        self.default = default
        # longest prefix first, so "/api/v1/reports" beats "/api/v1/"
        self.limits = sorted(limits.items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(route_path(scope))
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit():
                    await problem_response(400, "Bad request", "Content-Length is not a number")(
                        scope, receive, send)
                    return
                if int(value) > limit:
                    self._refused(scope)
                    await _too_large(limit)(scope, receive, send)
                    return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    self._refused(scope)
                    # an HTTPException passes FastAPI's body parsing untouched (anything else
                    # would become a 400) and the problem handlers render it
                    raise HTTPException(413, f"the body is over the limit of {limit} bytes "
                                             f"for {scope['path']}")
            return message

        await self.app(scope, counted, send)

    def _refused(self, scope: Scope) -> None:
        if self.on_refused is not None:
            self.on_refused(scope)


def _too_large(limit: int) -> ASGIApp:
    return problem_response(413, "Payload too large",
                            f"the body is over the limit of {limit} bytes", limit=limit)
