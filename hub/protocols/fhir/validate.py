"""``$validate`` (FHIR resource-operation-validate): ``POST /fhir/{type}/$validate`` and
``POST /fhir/{type}/{id}/$validate`` answer an OperationOutcome with every finding, each with
the ``expression`` of the element at fault: structure (the R4B models) and the hub's own rules
(required bindings, dates, reference types, required elements). Nothing is stored or applied.

The body is the resource, or a ``Parameters`` resource carrying it in ``resource`` (as the
operation defines); at instance level the resource's id must be the URL's, and the instance
must exist (``mode=create`` aside).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from hub.adapters.fhir import outcome
from hub.adapters.fhir.negotiation import request_format
from hub.errors import FhirLocation, HubError, ValidationError
from hub.protocols.contract import ApiKit
from hub.protocols.fhir.answers import RESOURCE_BODY, FhirRoute, refusal, respond
from hub.protocols.fhir.gateway import gateway_of
from hub.protocols.fhir.http import actor
from hub.protocols.fhir.registry import Operation
from hub.services.fhir_checks import check_resource, parse
from hub.services.receive import Ingestor
from hub.store.keys import ApiKey, Role

OPERATION = Operation("$validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate")


def resource_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource itself, or the ``resource`` parameter of a Parameters body."""
    if body.get("resourceType") != "Parameters":
        return body
    for param in body.get("parameter") or []:
        if isinstance(param, Mapping) and param.get("name") == "resource":
            found = param.get("resource")
            if isinstance(found, Mapping):
                return found
    raise ValidationError(
        "Parameters has no resource parameter",
        code="required",
        location=FhirLocation("Parameters.parameter"),
    )


def findings(raw: bytes, fmt: Any, type_name: str, id: str | None) -> list[HubError]:
    try:
        resource = resource_of(parse(raw, fmt))
    except HubError as exc:
        return [exc]
    return check_resource(resource, type_name, id)


def router(kit: ApiKit, service: Ingestor) -> APIRouter:
    gw = gateway_of(service)
    reader = Depends(kit.require(Role.READER, answer=refusal))
    api = APIRouter(route_class=FhirRoute)

    async def validate(request: Request, type_name: str, id: str | None, key: ApiKey) -> Response:
        fmt = request_format(request.headers.get("content-type"))
        raw = await request.body()
        if id is not None:  # the instance must exist: a 404 names what is missing
            await asyncio.to_thread(gw.reads.read, type_name, id, actor(key))
        found = await asyncio.to_thread(findings, raw, fmt, type_name, id)
        if not found:
            return respond(request, outcome.information("no issues found"))
        # issues found: 400 (the operation allows 200 or 4xx; a client may branch on the
        # status without reading the body), each issue with its expression
        return respond(request, outcome.from_errors(found), status=400)

    @api.post("/fhir/{type_name}/$validate", response_class=Response, openapi_extra=RESOURCE_BODY)
    async def type_level(request: Request, type_name: str, key: ApiKey = reader) -> Response:
        return await validate(request, type_name, None, key)

    @api.post(
        "/fhir/{type_name}/{id}/$validate", response_class=Response, openapi_extra=RESOURCE_BODY
    )
    async def instance_level(
        request: Request, type_name: str, id: str, key: ApiKey = reader
    ) -> Response:
        return await validate(request, type_name, id, key)

    return api
