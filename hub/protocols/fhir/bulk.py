"""FHIR Bulk Data export, async pattern (hl7.org/fhir/uv/bulkdata/export.html):

* ``GET /fhir/$export`` and ``GET /fhir/Patient/$export`` with ``Prefer: respond-async``:
  202 with ``Content-Location`` (the status URL); ``_type`` and ``_since``;
* ``GET`` the status URL: 202 with ``X-Progress`` while it runs, then 200 with the manifest;
  ``DELETE`` it: 202, the job stops and its files go;
* the manifest's ``output`` URLs serve ``application/fhir+ndjson``, to the key that asked only
  (``requiresAccessToken: true``).

Needs the ``reader`` role; the job itself is :class:`hub.services.fhir_export.ExportService`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from hub.adapters.fhir.outcome import information
from hub.errors import ConfigError, FhirLocation, InputError
from hub.protocols.contract import ApiKit
from hub.protocols.fhir.answers import FhirRoute, answers, empty, refusal, respond
from hub.protocols.fhir.gateway import FhirGateway, gateway_of
from hub.protocols.fhir.registry import Operation, ResourceRegistry
from hub.services.fhir_export import (
    CANCELLED,
    COMPLETE,
    EXPORT_TYPES,
    FAILED,
    PATIENT_TYPES,
    ExportService,
    parse_types,
)
from hub.services.receive import Ingestor
from hub.store.keys import ApiKey, Role

EXPORT = Operation("$export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export")
STATUS_PATH = "/fhir/$export-status"
FILES_PATH = "/fhir/$export-files"
# Bulk Data export.html#response---complete-status: the manifest is plain JSON; the files NDJSON
MANIFEST: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}},
    **empty(202),
}
# export.html#headers: the kick-off must ask for an asynchronous answer
KICK_OFF: dict[str, Any] = {
    "parameters": [
        {
            "name": "Prefer",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "enum": ["respond-async"]},
        }
    ]
}
NDJSON: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/fhir+ndjson": {"schema": {"type": "string"}}}}
}


def register(registry: ResourceRegistry) -> None:
    registry.add_operation(EXPORT)


def _service(gw: FhirGateway) -> ExportService:
    if gw.exports is None:
        raise ConfigError("the FHIR gateway has no export service")
    return gw.exports


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            "_since must be a FHIR instant", code="invalid", location=FhirLocation("_since")
        ) from None
    if when.tzinfo is None:
        raise InputError(
            "_since needs a time zone", code="invalid", location=FhirLocation("_since")
        )
    return when


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def router(kit: ApiKit, service: Ingestor) -> APIRouter:
    gw = gateway_of(service)
    exports = _service(gw)
    reader = Depends(kit.require(Role.READER, answer=refusal))
    api = APIRouter(route_class=FhirRoute)

    async def kick_off(request: Request, key: ApiKey, allowed: tuple[str, ...]) -> Response:
        if "respond-async" not in request.headers.get("prefer", ""):
            raise InputError(
                "bulk export needs 'Prefer: respond-async'", code="invalid", location=None
            )
        q = request.query_params
        if q.get("_outputFormat") not in (None, "application/fhir+ndjson", "ndjson"):
            raise InputError(
                "_outputFormat must be application/fhir+ndjson",
                code="not_supported",
                location=FhirLocation("_outputFormat"),
            )
        types = parse_types(q.get("_type"), allowed)
        job_id = await asyncio.to_thread(
            lambda: exports.kick_off(
                types=types,
                since=_since(q.get("_since")),
                key_id=key.id,
                request_url=str(request.url),
            )
        )
        return Response(
            status_code=202,
            headers={"Content-Location": f"{_base(request)}{STATUS_PATH}/{job_id}"},
        )

    @api.get("/fhir/$export", response_class=Response, responses=empty(202), openapi_extra=KICK_OFF)
    async def system_export(request: Request, key: ApiKey = reader) -> Response:
        return await kick_off(request, key, EXPORT_TYPES)

    @api.get(
        "/fhir/Patient/$export",
        response_class=Response,
        responses=empty(202),
        openapi_extra=KICK_OFF,
    )
    async def patient_export(request: Request, key: ApiKey = reader) -> Response:
        return await kick_off(request, key, PATIENT_TYPES)

    @api.get(STATUS_PATH + "/{job_id}", response_class=Response, responses=MANIFEST)
    async def status(request: Request, job_id: str, key: ApiKey = reader) -> Response:
        job = await asyncio.to_thread(exports.status, job_id, key.id)
        if job.status == COMPLETE:
            base = f"{_base(request)}{FILES_PATH}/{job.id}"
            manifest = {
                "transactionTime": job.transaction_time.isoformat(),
                "request": job.request_url,
                "requiresAccessToken": True,
                "output": [
                    {"type": o["type"], "url": f"{base}/{o['type']}.ndjson", "count": o["count"]}
                    for o in job.output or []
                ],
                "error": [],
            }
            return Response(content=json.dumps(manifest), media_type="application/json")
        if job.status == FAILED:
            raise InputError(f"the export failed: {job.error or 'unknown'}"[:300], code="exception")
        if job.status == CANCELLED:
            raise InputError("the export was cancelled", code="not_found")
        return Response(status_code=202, headers={"X-Progress": job.progress or job.status})

    @api.delete(STATUS_PATH + "/{job_id}", response_class=Response, responses=answers(202))
    async def cancel(request: Request, job_id: str, key: ApiKey = reader) -> Response:
        await asyncio.to_thread(exports.cancel, job_id, key.id)
        return respond(request, information("export cancelled"), status=202)

    @api.get(FILES_PATH + "/{job_id}/{name}", response_class=Response, responses=NDJSON)
    async def file(job_id: str, name: str, key: ApiKey = reader) -> Response:
        path = await asyncio.to_thread(exports.file, job_id, name, key.id)
        return FileResponse(path, media_type="application/fhir+ndjson")

    return api
