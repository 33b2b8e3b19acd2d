"""Errors of the hub, and how every one of them reaches a client as ``application/problem+json``.

    HubError                    status, title, detail (RFC 9457 problem details)
    ├── ConfigError             a settings key is wrong; names the dotted key (exit 78, never HTTP)
    ├── BadRequest          400 the request cannot be read
    ├── Unauthorized        401 no credentials, or they are wrong or expired (WWW-Authenticate)
    ├── Forbidden           403 authenticated, but the role or agency does not allow it
    ├── NotFound            404 no such resource
    ├── Conflict            409 the resource exists or changed meanwhile
    ├── PayloadTooLarge     413 the body is over the configured limit
    ├── InvalidInput        422 the body parsed but a value is wrong (names the field)
    ├── TooManyRequests     429 too many failed attempts; Retry-After says when to try again
    └── Unavailable         503 a backing store cannot be reached right now

Domain packages (``api.telemetry``, ``api.ingest``, ``api.incidents``) subclass these; the one
handler installed by :func:`install_problem_handlers` renders them, FastAPI's validation errors
(422), Starlette's routing errors (404, 405) and anything unexpected (500, logged with its
traceback, never its text sent to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "PROBLEM_JSON",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "FieldProblem",
    "Forbidden",
    "HubError",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "Problem",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class HubError(Exception):
    """Base of every error the hub raises on purpose.

    ``detail`` is a sentence for a person; ``extra`` goes into the problem body as members of
    its own (e.g. ``{"batch": "gw-1:42-57"}``), so clients need not parse the sentence.
    """

    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class ConfigError(HubError):
    """A settings value is wrong; ``key`` is its dotted path, e.g. ``server.port``."""

    title = "Configuration error"

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}", key=key)
        self.key = key
        self.message = message


class BadRequest(HubError):
    status = 400
    title = "Bad request"


class Unauthorized(HubError):
    """Always carries ``WWW-Authenticate: Bearer`` (RFC 6750), with the reason when there is one."""

    status = 401
    title = "Not authenticated"

    def __init__(self, detail: str, *, error: str | None = None, **extra: Any) -> None:
        challenge = 'Bearer realm="siaga"'
        if error is not None:
            challenge += f', error="{error}", error_description="{detail}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge}, **extra)


class Forbidden(HubError):
    status = 403
    title = "Forbidden"


class NotFound(HubError):
    status = 404
    title = "Not found"


class Conflict(HubError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(HubError):
    status = 413
    title = "Payload too large"


class InvalidInput(HubError):
    status = 422
    title = "Invalid input"


class TooManyRequests(HubError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int, **extra: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)}, **extra)


class Unavailable(HubError):
    status = 503
    title = "Service unavailable"


class FieldProblem(BaseModel):
    """One invalid field of a request: where it is, and what is wrong with it."""

    loc: list[str | int] = Field(description="Path of the field, e.g. ['body', 'readings', 0]")
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details; extra members (``errors``, ``batch``, ...) may follow."""

    model_config = {"extra": "allow"}

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(
        default=None, description="Present on 422: every invalid field"
    )


def problem_response(status: int, title: str, detail: str, *,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid or expired bearer token",
    403: "The caller's role or agency does not allow this",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    422: "Validation error: every invalid field is listed in `errors`",
    429: "Too many failed attempts; retry after the Retry-After header's seconds",
    500: "Internal error",
    503: "A backing store is unavailable",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json answers for these statuses."""
    return {
        s: {"model": Problem, "description": _DESCRIPTIONS.get(s, "Error"),
            "content": {PROBLEM_JSON: {}}}
        for s in statuses
    }


def _validation_errors(errors: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        out.append({"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                    "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error the app can produce through problem+json."""

    async def hub_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubError)
        if exc.status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc.detail)
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers,
                                **exc.extra)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc.errors())
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:5])
        return problem_response(422, "Invalid input", f"invalid request: {where}",
                                errors=errors)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = _DESCRIPTIONS.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "the body cannot be parsed (expected UTF-8 JSON)"
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(exc.status_code, title, detail,
                                headers=dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "Internal error",
                                "the hub failed to answer this request; the error is logged")

    app.add_exception_handler(HubError, hub_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
