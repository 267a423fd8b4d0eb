"""``/fhir/Subscription``: create, read, search and delete R4 rest-hook Subscriptions
(:mod:`hub.services.fhir_subscriptions`; receivers verify the signature as
docs/fhir-subscriptions.md shows).

Subscriptions send PHI to an endpoint the caller names, so every interaction needs the
``admin`` role. The create answer (201, ``Location``) is the only one that carries the secret
(extension :data:`~hub.services.fhir_subscriptions.SECRET_URL`); reads never do.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from hub.adapters.fhir.negotiation import request_format
from hub.errors import ConfigError
from hub.protocols.contract import ApiKit
from hub.protocols.fhir.answers import (
    RESOURCE_BODY,
    FhirRoute,
    answers,
    empty,
    refusal,
    respond,
)
from hub.protocols.fhir.gateway import FhirGateway, gateway_of
from hub.protocols.fhir.registry import (
    Interaction,
    ParamType,
    ResourceRegistry,
    ResourceSpec,
    params,
)
from hub.services.fhir_subscriptions import SECRET_URL, SubscriptionService
from hub.services.receive import Ingestor
from hub.store.keys import ApiKey, Role


def register(registry: ResourceRegistry) -> None:
    registry.register(
        ResourceSpec(
            "Subscription",
            frozenset(
                {Interaction.CREATE, Interaction.READ, Interaction.DELETE, Interaction.SEARCH_TYPE}
            ),
            search_params=params(("status", ParamType.TOKEN), ("type", ParamType.TOKEN)),
            versioning="no-version",
            read_history=False,
            documentation="R4 rest-hook; signed with HMAC-SHA256 (docs/fhir-subscriptions.md)",
        )
    )


def _service(gw: FhirGateway) -> SubscriptionService:
    if gw.subscriptions is None:
        raise ConfigError("the FHIR gateway has no subscription service")
    return gw.subscriptions


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def router(kit: ApiKit, service: Ingestor) -> APIRouter:
    gw = gateway_of(service)
    subs = _service(gw)
    admin = Depends(kit.require(Role.ADMIN, answer=refusal))
    api = APIRouter(route_class=FhirRoute)

    @api.post(
        "/fhir/Subscription",
        response_class=Response,
        responses=answers(201),
        openapi_extra=RESOURCE_BODY,
    )
    async def create(request: Request, key: ApiKey = admin) -> Response:
        fmt = request_format(request.headers.get("content-type"))
        resource = fmt.parse(await request.body())
        stored, secret = await asyncio.to_thread(subs.create, resource, f"key:{key.id}")
        shown = {**stored, "extension": [{"url": SECRET_URL, "valueString": secret}]}
        return respond(
            request,
            shown,
            status=201,
            headers={"Location": f"{_base(request)}/Subscription/{stored['id']}"},
        )

    @api.get("/fhir/Subscription/{sub_id}", response_class=Response, dependencies=[admin])
    async def read(request: Request, sub_id: str) -> Response:
        return respond(request, await asyncio.to_thread(subs.read, sub_id))

    @api.get("/fhir/Subscription", response_class=Response, dependencies=[admin])
    async def search(request: Request) -> Response:
        q = request.query_params
        found = await asyncio.to_thread(subs.search, q.get("status"), q.get("type"))
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [
                {
                    "fullUrl": f"{_base(request)}/Subscription/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in found
            ],
        }
        return respond(request, bundle)

    @api.delete("/fhir/Subscription/{sub_id}", response_class=Response, responses=empty(204))
    async def delete(sub_id: str, key: ApiKey = admin) -> Response:
        await asyncio.to_thread(subs.delete, sub_id, f"key:{key.id}")
        return Response(status_code=204)

    return api
