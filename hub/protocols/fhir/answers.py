"""FHIR answers over HTTP: the format chosen by ``_format``/``Accept``, and every error (ours,
FastAPI's, an unexpected one) as an OperationOutcome with its status. Never a bare 500 page.

:class:`FhirRoute` is the route class of every FHIR router: it wraps the endpoint (its
dependencies included, so an auth refusal is an OperationOutcome too) and turns what it raises
into an answer through :func:`error_answer`, the one place FHIR renders errors over HTTP.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from hub.adapters.fhir import outcome
from hub.adapters.fhir.negotiation import Format, response_format
from hub.errors import HubError, InputError, NotFound, UnsupportedError

log = logging.getLogger(__name__)


def answer_format(request: Request) -> Format:
    """The answer's format; JSON when the request names one we do not speak (the error about
    that is itself an answer, and must be readable)."""
    try:
        return response_format(request.query_params.get("_format"), request.headers.get("accept"))
    except HubError:
        return Format.JSON


def respond(
    request: Request,
    resource: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``resource`` in the format the request asked for."""
    fmt = response_format(request.query_params.get("_format"), request.headers.get("accept"))
    return Response(
        content=fmt.dump(resource),
        status_code=status,
        media_type=f"{fmt.media_type}; charset=utf-8",
        headers=dict(headers or {}),
    )


def error_answer(request: Request, exc: HubError) -> Response:
    fmt = answer_format(request)
    status = outcome.status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        content=fmt.dump(outcome.from_error(exc)),
        status_code=status,
        media_type=f"{fmt.media_type}; charset=utf-8",
        headers=headers,
    )


def refusal(exc: HubError) -> Response:
    """A 401/403 before the route runs (the front door's guard): JSON OperationOutcome."""
    return Response(
        content=Format.JSON.dump(outcome.from_error(exc)),
        status_code=outcome.status_for(exc),
        media_type=f"{Format.JSON.media_type}; charset=utf-8",
        headers={"WWW-Authenticate": "Bearer"} if outcome.status_for(exc) == 401 else None,
    )


def _translate(request: Request, exc: Exception) -> HubError:
    if isinstance(exc, HubError):
        return exc
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return InputError(f"invalid request: {where}", code="invalid_parameter")
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return NotFound("not found", code="not_found")
        if exc.status_code == 405:
            return UnsupportedError("method not allowed", code="method_not_allowed")
        return InputError(str(exc.detail)[:200], code="invalid_parameter")
    incident = uuid.uuid4().hex[:12]
    log.error(
        "unhandled FHIR error",
        exc_info=exc,
        extra={"code": incident, "path": request.url.path, "method": request.method},
    )
    return HubError(f"internal error; incident {incident} in the hub log", code="internal")


# What a FHIR answer's body is, for the OpenAPI schema: a resource in JSON or XML.
RESOURCE_CONTENT: dict[str, Any] = {
    Format.JSON.media_type: {
        "schema": {"type": "object", "required": ["resourceType"]},
    },
    Format.XML.media_type: {"schema": {"type": "string"}},
}
# Every status :func:`error_answer` can give (hub/adapters/fhir/outcome.py's table and its
# fallbacks), each an OperationOutcome; a route names its own successes.
ERROR_STATUSES = sorted({s for _, s in outcome.CODES.values()} | {409, 422, 503})


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a FHIR route that answers these statuses with a resource."""
    return {s: {"description": HTTPStatus(s).phrase, "content": RESOURCE_CONTENT} for s in statuses}


def body(content: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads its request body itself (so FastAPI cannot
    say what it takes)."""
    return {"requestBody": {"required": True, "content": content}}


# A resource in the body of a write, a Bundle or ``$validate``: JSON or XML (``Content-Type``).
RESOURCE_BODY = body(
    {
        Format.JSON.media_type: {
            "schema": {
                "type": "object",
                "required": ["resourceType"],
                "properties": {"resourceType": {"type": "string"}},
            }
        },
        Format.XML.media_type: {"schema": {"type": "string", "format": "binary"}},
    }
)


def empty(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for statuses a FHIR route answers without a body."""
    return {s: {"description": HTTPStatus(s).phrase} for s in statuses}


# A write's answers (FHIR http.html#create, #update, #delete, async.html): the resource or an
# OperationOutcome per ``Prefer: return``, nothing with ``return=minimal``, 202 while queued.
WRITTEN: dict[int | str, dict[str, Any]] = {**answers(201, 202), **empty(204)}


class FhirRoute(APIRoute):
    """A route whose every failure is an OperationOutcome (and says so in the OpenAPI schema)."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        responses: dict[int | str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        documented = {**answers(200, *ERROR_STATUSES), **(responses or {})}
        super().__init__(path, endpoint, responses=documented, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every error becomes an OperationOutcome
                return error_answer(request, _translate(request, exc))

        return guarded
