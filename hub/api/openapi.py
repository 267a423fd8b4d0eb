"""The OpenAPI schema tells the truth about the answers no route declares itself.

Routes document what their handlers answer (``responses=`` on the decorators). Three answers
come from elsewhere and are added here, to every operation that does not already say them:

- the front door (:mod:`hub.api.guard`): the bearer token a route with a role guard needs, its
  401 and 403 before the route runs, and 408 / 413 on any route whose body is late or too large;
- FastAPI's parameter validation, which :mod:`hub.api.problems` answers as a 422 problem JSON
  (FastAPI documents its own ``application/json`` body, which the hub never sends), and its
  400 for a request body that does not parse as its declared media type.

Protocol routes that answer in their own form (FHIR's OperationOutcome) document these statuses
themselves; what they document is kept.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

from hub.api.guard import guard_of
from hub.api.problems import documented

SCHEME = "bearer"  # Authorization: Bearer TOKEN, on every route with a role guard
FRONT_DOOR = (408, 413)
GUARDED = (401, 403)
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def schema(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the answers above added (a copy: FastAPI caches its own)."""
    document = copy.deepcopy(app.openapi())
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[SCHEME] = {"type": "http", "scheme": "bearer", "description": "hub keys create"}
    for path, method, guarded in _operations(app.router.routes):
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is not None:
            if guarded:
                operation["security"] = [{SCHEME: []}]
            responses = operation.setdefault("responses", {})
            _complete(responses, guarded=guarded, has_body="requestBody" in operation)
    return document


def _operations(routes: Sequence[BaseRoute]) -> list[tuple[str, str, bool]]:
    found: list[tuple[str, str, bool]] = []
    for ctx in iter_route_contexts(routes):
        if ctx.path is None:
            continue
        guarded = guard_of(getattr(ctx, "dependant", None)) is not None
        found.extend((ctx.path, m.lower(), guarded) for m in ctx.methods or ())
    return found


def _complete(responses: dict[str, Any], *, guarded: bool, has_body: bool) -> None:
    if has_body:  # a body that is not the JSON it claims to be: FastAPI's 400, as problem JSON
        responses.setdefault("400", documented(400)[400])
    validation = responses.get("422", {}).get("content", {}).get("application/json", {})
    if validation.get("schema", {}).get("$ref") == _FASTAPI_422:
        responses["422"] = documented(422)[422]
    wanted = (*GUARDED, *FRONT_DOOR) if guarded else FRONT_DOOR
    for status, answer in documented(*wanted).items():
        known = responses.setdefault(str(status), answer)
        # a route's own 413 (FHIR's) stays; the front door's problem JSON is possible too
        if status in FRONT_DOOR:
            known.setdefault("content", {}).update(answer["content"])
