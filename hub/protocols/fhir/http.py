"""The FHIR REST read side at ``/fhir`` (FHIR http.html): ``metadata`` (public), read, vread,
instance and type history, and search (GET, and POST ``_search`` with a form body).

Every answer speaks JSON or XML (``_format``, ``Accept``); every error is an OperationOutcome
(:mod:`.answers`). Reads carry ``ETag: W/"<versionId>"`` and ``Last-Modified``; a read whose
``If-None-Match`` names the current version answers 304.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response

from hub import __version__
from hub.errors import NotFound
from hub.protocols.contract import ApiKit
from hub.protocols.fhir.answers import FhirRoute, body, empty, error_answer, refusal, respond
from hub.protocols.fhir.gateway import FhirGateway, gateway_of
from hub.protocols.fhir.registry import Interaction
from hub.services.reads import Actor
from hub.services.receive import Ingestor
from hub.store.keys import ApiKey, Role

MAX_QUERY_PAIRS = 100
# POST _search takes the parameters as a form (FHIR http.html#search-post)
SEARCH_FORM = body(
    {
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    }
)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def strict_handling(request: Request) -> bool:
    """``Prefer: handling=strict`` (FHIR search.html#errors): refuse unknown parameters."""
    prefer = request.headers.get("prefer", "")[:200]
    tokens = re.split(r"[;,]", prefer)
    return any(t.strip().lower().replace(" ", "") == "handling=strict" for t in tokens)


def query_pairs(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())[:MAX_QUERY_PAIRS]


def actor(key: ApiKey) -> Actor:
    return Actor.api_key(key.id, key.name)


def version_headers(resource: dict[str, Any]) -> dict[str, str]:
    """ETag and Last-Modified from ``meta`` (FHIR http.html#versioning)."""
    meta = resource.get("meta") or {}
    headers = {}
    if meta.get("versionId"):
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if meta.get("lastUpdated"):
        when = datetime.fromisoformat(str(meta["lastUpdated"]).replace("Z", "+00:00"))
        headers["Last-Modified"] = format_datetime(when, usegmt=True)
    return headers


def _check_type(gw: FhirGateway, type_name: str, interaction: Interaction) -> None:
    if gw.registry.get(type_name) is None:
        raise NotFound(f"resource type {type_name[:64]!r} is not served here", code="unknown_type")
    if not gw.registry.supports(type_name, interaction):
        raise NotFound(
            f"{interaction.value} is not supported for {type_name}", code="method_not_allowed"
        )


def router(kit: ApiKit, service: Ingestor) -> APIRouter:
    """The router factory the app factory calls (the plug-in's ``routers``)."""
    gw = gateway_of(service)
    reader = Depends(kit.require(Role.READER, answer=refusal))
    api = APIRouter(route_class=FhirRoute)

    @api.get("/fhir/metadata", response_class=Response)
    async def metadata(request: Request) -> Response:
        statement = gw.registry.capability_statement(
            base_url=base_url(request), now=gw.clock.now(), software_version=__version__
        )
        return respond(request, statement)

    @api.get("/fhir/{type_name}/_history", response_class=Response)
    async def type_history(request: Request, type_name: str, key: ApiKey = reader) -> Response:
        _check_type(gw, type_name, Interaction.HISTORY_TYPE)
        bundle = await asyncio.to_thread(
            gw.reads.history, type_name, None, query_pairs(request), base_url(request), actor(key)
        )
        return respond(request, bundle)

    @api.get("/fhir/{type_name}/{id}/_history", response_class=Response)
    async def instance_history(
        request: Request, type_name: str, id: str, key: ApiKey = reader
    ) -> Response:
        _check_type(gw, type_name, Interaction.HISTORY_INSTANCE)
        bundle = await asyncio.to_thread(
            gw.reads.history, type_name, id, query_pairs(request), base_url(request), actor(key)
        )
        return respond(request, bundle)

    @api.get("/fhir/{type_name}/{id}/_history/{vid}", response_class=Response)
    async def vread(
        request: Request, type_name: str, id: str, vid: str, key: ApiKey = reader
    ) -> Response:
        _check_type(gw, type_name, Interaction.VREAD)
        found = await asyncio.to_thread(gw.reads.vread, type_name, id, vid, actor(key))
        return respond(request, found, headers=version_headers(found))

    @api.get("/fhir/{type_name}/{id}", response_class=Response, responses=empty(304))
    async def read(request: Request, type_name: str, id: str, key: ApiKey = reader) -> Response:
        _check_type(gw, type_name, Interaction.READ)
        found = await asyncio.to_thread(gw.reads.read, type_name, id, actor(key))
        headers = version_headers(found)
        if headers.get("ETag") and request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return respond(request, found, headers=headers)

    @api.get("/fhir/{type_name}", response_class=Response)
    async def search(request: Request, type_name: str, key: ApiKey = reader) -> Response:
        _check_type(gw, type_name, Interaction.SEARCH_TYPE)
        return await _search(request, gw, type_name, query_pairs(request), key)

    @api.post("/fhir/{type_name}/_search", response_class=Response, openapi_extra=SEARCH_FORM)
    async def search_post(request: Request, type_name: str, key: ApiKey = reader) -> Response:
        _check_type(gw, type_name, Interaction.SEARCH_TYPE)
        body = (await request.body()).decode("utf-8", "replace")
        pairs = query_pairs(request) + parse_qsl(body, keep_blank_values=True)
        return await _search(request, gw, type_name, pairs[:MAX_QUERY_PAIRS], key)

    return api


async def _search(
    request: Request, gw: FhirGateway, type_name: str, pairs: list[tuple[str, str]], key: ApiKey
) -> Response:
    bundle = await asyncio.to_thread(
        lambda: gw.reads.search(
            type_name, pairs, base_url(request), actor(key), strict=strict_handling(request)
        )
    )
    return respond(request, bundle)


def fallback(kit: ApiKit, service: Ingestor) -> APIRouter:
    """Last of the FHIR routers: anything else under ``/fhir`` is a 404 OperationOutcome."""
    gateway_of(service)
    api = APIRouter(route_class=FhirRoute)
    # any key may learn that a path does not exist; no one without a key (the front door then
    # refuses before reading a body, as on every other route)
    caller = Depends(kit.require(Role.READER, Role.FEED, answer=refusal))

    @api.api_route(
        "/fhir/{rest:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        response_class=Response,
        include_in_schema=False,
    )
    async def unknown(request: Request, rest: str, key: ApiKey = caller) -> Response:
        return error_answer(request, NotFound("no such FHIR endpoint", code="not_found"))

    return api
