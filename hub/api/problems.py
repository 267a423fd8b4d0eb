"""HTTP problem JSON (RFC 9457): the one place HTTP turns errors into answers.

Never a stack trace: unexpected errors become a 500 problem with an incident id that is also
logged, so an admin can find the log line without the client seeing internals.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import (
    AuthError,
    Conflict,
    Forbidden,
    HubError,
    InputError,
    NotFound,
    TransientError,
    Unauthorized,
)

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

# What :func:`problem` writes, for the OpenAPI schema (RFC 9457 members plus the hub's ``code``).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "location": {"type": "string"},
        "incident": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that may answer these statuses as problem JSON."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


def status_for(exc: HubError) -> int:
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, InputError):
        return 422 if exc.code not in ("parse", "too_large") else 400
    if isinstance(exc, TransientError):
        return 503
    return 400


def problem(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def hub_error_response(exc: HubError) -> JSONResponse:
    return problem(
        status_for(exc),
        type(exc).__name__,
        exc.message,
        code=exc.code,
        location=str(exc.location) if exc.location else None,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub(_: Request, exc: HubError) -> JSONResponse:
        return hub_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        return problem(
            422,
            "Invalid request",
            "the request did not match the API",
            code="invalid_request",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), code="http_error")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error(
            "unhandled error",
            exc_info=exc,
            extra={"code": incident, "path": request.url.path, "method": request.method},
        )
        return problem(
            500,
            "Internal error",
            "see the hub log for this incident id",
            code="internal",
            incident=incident,
        )
