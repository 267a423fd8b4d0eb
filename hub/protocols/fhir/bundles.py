"""``POST /fhir``: transaction and batch Bundles (FHIR http.html#transaction).

A transaction is applied whole or not at all; a batch entry by entry. Both answer a response
Bundle (``transaction-response`` / ``batch-response``) with each entry's status, location and
ETag. ``Prefer: respond-async``, or a Bundle of more entries than the service answers in the
request, answers 202 with the status URL in ``Content-Location`` (FHIR async.html); polling it
gives 202, then the response Bundle. Work: :class:`hub.services.fhir_writes.FhirWriteService`.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request, Response

from hub.adapters.fhir.negotiation import request_format
from hub.protocols.contract import ApiKit
from hub.protocols.fhir.answers import RESOURCE_BODY, WRITTEN, FhirRoute, refusal
from hub.protocols.fhir.gateway import gateway_of
from hub.protocols.fhir.http import base_url
from hub.protocols.fhir.prefer import prefer
from hub.protocols.fhir.writes import answer, writes_of
from hub.services.origin import Origin
from hub.services.receive import Ingestor
from hub.store.keys import ApiKey, Role


def router(kit: ApiKit, service: Ingestor) -> APIRouter:
    gw = gateway_of(service)
    feed = Depends(kit.require(Role.FEED, answer=refusal))
    api = APIRouter(route_class=FhirRoute)

    @api.post("/fhir/", response_class=Response, include_in_schema=False)
    @api.post("/fhir", response_class=Response, responses=WRITTEN, openapi_extra=RESOURCE_BODY)
    async def bundle(request: Request, key: ApiKey = feed) -> Response:
        writes = writes_of(gw)
        wanted = prefer(request.headers.get("prefer"))
        fmt = request_format(request.headers.get("content-type"))
        raw = await request.body()
        done = await asyncio.to_thread(
            lambda: writes.bundle(
                raw,
                fmt,
                actor=Origin.api_key(key.id, key.name).actor,
                respond_async=wanted.respond_async,
                base=base_url(request),
            )
        )
        return await answer(request, gw, done, wanted, key)

    return api
