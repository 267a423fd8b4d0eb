"""FHIR REST writes at ``/fhir`` (FHIR http.html): create (``If-None-Exist``), update and
update-as-create, conditional update, patch (JSON Patch, ``application/json-patch+json``) and
conditional patch, delete and conditional delete, with ``If-Match``,
``Prefer: return=minimal|representation|OperationOutcome`` and ``Prefer: respond-async``; and
the status URL of an asynchronous request.

Answers: 201/200 with ``Location`` (``Type/id/_history/version``), ``ETag: W/"version"`` and
``Last-Modified``; 204 for a delete; 202 with ``Content-Location`` (the status URL) when the
write runs later. Every refusal is an OperationOutcome (:mod:`.answers`). The work is
:class:`hub.services.fhir_writes.FhirWriteService`'s: these routes only translate HTTP.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from email.utils import format_datetime

from fastapi import APIRouter, Depends, Request, Response

from hub.adapters.fhir import outcome
from hub.adapters.fhir.negotiation import Format, request_format
from hub.errors import ConfigError, FhirLocation, NotFound, UnsupportedError
from hub.protocols.contract import ApiKit
from hub.protocols.fhir.answers import (
    RESOURCE_BODY,
    WRITTEN,
    FhirRoute,
    answers,
    body,
    refusal,
    respond,
)
from hub.protocols.fhir.bundle_reads import fill, has_stubs
from hub.protocols.fhir.gateway import FhirGateway, gateway_of
from hub.protocols.fhir.http import actor, base_url
from hub.protocols.fhir.prefer import Prefer, prefer
from hub.protocols.fhir.registry import Interaction as Rest
from hub.services.fhir_interactions import Interaction
from hub.services.fhir_patch import MEDIA_TYPE
from hub.services.fhir_writes import FhirWriteService, WriteAnswer
from hub.services.origin import Origin
from hub.services.receive import Ingestor
from hub.store.keys import ApiKey, Role


def writes_of(gw: FhirGateway) -> FhirWriteService:
    if gw.writes is None:
        raise ConfigError("the FHIR write routes need the write service on the gateway")
    return gw.writes


def _served(gw: FhirGateway, type_name: str, interaction: Rest) -> None:
    if not gw.registry.supports(type_name, interaction):
        raise NotFound(
            f"{interaction.value} is not supported for {type_name[:64]}", code="unknown_type"
        )


async def answer(
    request: Request, gw: FhirGateway, done: WriteAnswer, wanted: Prefer, key: ApiKey
) -> Response:
    """A write's answer in the form the client preferred."""
    headers: dict[str, str] = {}
    if done.status_url is not None:
        headers["Content-Location"] = f"{base_url(request)}/{done.status_url}"
    result = done.result
    if result is None:  # an error, a 202, or a Bundle
        if done.body is None:
            return Response(status_code=done.status, headers=headers)
        body = done.body
        if has_stubs(body):  # GET entries: shown now, to this caller (audited)
            body = await asyncio.to_thread(fill, body, gw.reads, actor(key))
        return respond(request, body, status=done.status, headers=headers)
    if result.location is not None:
        headers["Location"] = f"{base_url(request)}/{result.location}"
        headers["ETag"] = result.etag or ""
    if result.last_modified:
        when = datetime.fromisoformat(result.last_modified)
        headers["Last-Modified"] = format_datetime(when, usegmt=True)
    if result.status == 204 or wanted.returns == "minimal" or result.logical_id is None:
        return Response(status_code=result.status, headers=headers)
    if wanted.returns == "OperationOutcome":
        said = outcome.information(f"{result.resource_type} {_verb(result.status)}")
        return respond(request, said, status=result.status, headers=headers)
    resource = await asyncio.to_thread(
        gw.reads.read, result.resource_type, result.logical_id, actor(key)
    )
    return respond(request, resource, status=result.status, headers=headers)


# A JSON Patch body (RFC 6902: an array of operations) and its answers (FHIR http.html#patch)
PATCH_BODY = body(
    {
        MEDIA_TYPE: {
            "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["op", "path"],
                    "properties": {"op": {"type": "string"}, "path": {"type": "string"}},
                },
            }
        }
    }
)
PATCHED = {**answers(200, 202), **WRITTEN}


def _patch_media(content_type: str | None) -> None:
    """PATCH takes JSON Patch only (FHIR http.html#patch); FHIRPath Patch and XML Patch: 415."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != MEDIA_TYPE:
        raise UnsupportedError(
            f"PATCH takes {MEDIA_TYPE} (JSON Patch); FHIRPath and XML Patch are not supported",
            code="unsupported_media_type",
            location=FhirLocation("Content-Type"),
        )


def _verb(status: int) -> str:
    return {201: "created", 200: "updated", 204: "deleted"}.get(status, "written")


def router(kit: ApiKit, service: Ingestor) -> APIRouter:
    gw = gateway_of(service)
    feed = Depends(kit.require(Role.FEED, answer=refusal))
    api = APIRouter(route_class=FhirRoute)

    async def run(request: Request, it: Interaction, key: ApiKey) -> Response:
        writes = writes_of(gw)
        wanted = prefer(request.headers.get("prefer"))
        raw, fmt = b"", Format.JSON
        if it.method == "PATCH":
            _patch_media(request.headers.get("content-type"))
            raw = await request.body()
        elif it.method != "DELETE":
            fmt = request_format(request.headers.get("content-type"))
            raw = await request.body()
        done = await asyncio.to_thread(
            lambda: writes.write(
                it,
                raw,
                fmt,
                actor=Origin.api_key(key.id, key.name).actor,
                respond_async=wanted.respond_async,
            )
        )
        return await answer(request, gw, done, wanted, key)

    def interaction(request: Request, method: str, type_name: str, id: str | None) -> Interaction:
        query = request.url.query or None
        return Interaction(
            method=method,
            resource_type=type_name,
            logical_id=id,
            criteria=query if id is None and method != "POST" else None,
            if_match=request.headers.get("if-match"),
            if_none_exist=request.headers.get("if-none-exist") if method == "POST" else None,
        )

    @api.post(
        "/fhir/{type_name}", response_class=Response, responses=WRITTEN, openapi_extra=RESOURCE_BODY
    )
    async def create(request: Request, type_name: str, key: ApiKey = feed) -> Response:
        _served(gw, type_name, Rest.CREATE)
        return await run(request, interaction(request, "POST", type_name, None), key)

    @api.put(
        "/fhir/{type_name}/{id}",
        response_class=Response,
        responses=WRITTEN,
        openapi_extra=RESOURCE_BODY,
    )
    async def update(request: Request, type_name: str, id: str, key: ApiKey = feed) -> Response:
        _served(gw, type_name, Rest.UPDATE)
        return await run(request, interaction(request, "PUT", type_name, id), key)

    @api.put(
        "/fhir/{type_name}", response_class=Response, responses=WRITTEN, openapi_extra=RESOURCE_BODY
    )
    async def conditional_update(request: Request, type_name: str, key: ApiKey = feed) -> Response:
        _served(gw, type_name, Rest.UPDATE)
        return await run(request, interaction(request, "PUT", type_name, None), key)

    @api.patch(
        "/fhir/{type_name}/{id}",
        response_class=Response,
        responses=PATCHED,
        openapi_extra=PATCH_BODY,
    )
    async def patch(request: Request, type_name: str, id: str, key: ApiKey = feed) -> Response:
        _served(gw, type_name, Rest.PATCH)
        return await run(request, interaction(request, "PATCH", type_name, id), key)

    @api.patch(
        "/fhir/{type_name}", response_class=Response, responses=PATCHED, openapi_extra=PATCH_BODY
    )
    async def conditional_patch(request: Request, type_name: str, key: ApiKey = feed) -> Response:
        _served(gw, type_name, Rest.PATCH)
        return await run(request, interaction(request, "PATCH", type_name, None), key)

    @api.delete("/fhir/{type_name}/{id}", response_class=Response, responses=WRITTEN)
    async def delete(request: Request, type_name: str, id: str, key: ApiKey = feed) -> Response:
        _served(gw, type_name, Rest.DELETE)
        return await run(request, interaction(request, "DELETE", type_name, id), key)

    @api.delete("/fhir/{type_name}", response_class=Response, responses=WRITTEN)
    async def conditional_delete(request: Request, type_name: str, key: ApiKey = feed) -> Response:
        _served(gw, type_name, Rest.DELETE)
        return await run(request, interaction(request, "DELETE", type_name, None), key)

    return api


def status_router(kit: ApiKit, service: Ingestor) -> APIRouter:
    """``GET /fhir/_async/{id}``: 202 while the request waits, then its answer (FHIR
    async.html). Mounted before the read routes, whose ``/fhir/{type}/{id}`` it would match."""
    gw = gateway_of(service)
    reader = Depends(kit.require(Role.READER, answer=refusal))
    api = APIRouter(route_class=FhirRoute)

    @api.get("/fhir/_async/{message_id}", response_class=Response, responses=WRITTEN)
    async def status(request: Request, message_id: str, key: ApiKey = reader) -> Response:
        if not message_id.isdigit() or len(message_id) > 18:
            raise NotFound("no such FHIR request", code="not_found")
        done = await asyncio.to_thread(writes_of(gw).status, int(message_id))
        return await answer(request, gw, done, Prefer(), key)

    return api
