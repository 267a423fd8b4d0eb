"""``POST /fhir/$convert-hl7v2``: one HL7 v2 ADT, SIU or DFT message as a FHIR transaction
Bundle (docs/fhir-convert.md), built by the pure mapping :mod:`hub.mappings.hl7v2_fhir`.

The body is the ER7 message itself (``text/plain``, ``x-application/hl7-v2+er7``,
``application/hl7-v2``) or a ``Parameters`` resource (JSON or XML) whose parameter ``message``
carries it as ``valueString``. The answer is the Bundle, validated against the R4B models
before it leaves. Nothing is stored and the PM is not touched: this is a translation service
(the same message sent to ``POST /hl7v2`` or MLLP is what changes the PM).

Errors are OperationOutcomes: a message that cannot be read or mapped answers 400 with
``expression`` naming the HL7 segment and field
(``PID-7``, ``FT1[2]-7``); an unsupported message type answers 400 naming ``MSH-9``.
"""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response

from hub.adapters.fhir.models import validate
from hub.adapters.fhir.negotiation import format_named
from hub.errors import FhirLocation, HubError, InputError, UnsupportedError
from hub.mappings.hl7v2_fhir import convert
from hub.protocols.contract import ApiKit
from hub.protocols.fhir.answers import FhirRoute, body, refusal, respond
from hub.protocols.fhir.gateway import gateway_of
from hub.protocols.fhir.registry import Operation, ResourceRegistry
from hub.services.receive import Ingestor
from hub.store.keys import Role

OPERATION = Operation("$convert-hl7v2", "https://hub.invalid/OperationDefinition/convert-hl7v2")
ER7_TYPES = frozenset(
    {"text/plain", "x-application/hl7-v2+er7", "application/hl7-v2", "application/edi-hl7"}
)
# the message as ER7 text, or a Parameters resource whose ``message`` parameter carries it
MESSAGE_BODY = body(
    {
        "x-application/hl7-v2+er7": {"schema": {"type": "string", "format": "binary"}},
        "application/fhir+json": {
            "schema": {
                "type": "object",
                "required": ["resourceType"],
                "properties": {"resourceType": {"const": "Parameters"}},
            }
        },
    }
)


def register(registry: ResourceRegistry) -> None:
    registry.add_operation(OPERATION)


def router(kit: ApiKit, service: Ingestor) -> APIRouter:
    gw = gateway_of(service)
    caller = Depends(kit.require(Role.FEED, Role.READER, answer=refusal))
    tz = ZoneInfo(gw.settings.practice_timezone)
    charset = gw.settings.hl7_default_charset
    api = APIRouter(route_class=FhirRoute)

    @api.post(
        "/fhir/$convert-hl7v2",
        response_class=Response,
        dependencies=[caller],
        openapi_extra=MESSAGE_BODY,
    )
    async def convert_hl7v2(request: Request) -> Response:
        raw = message_bytes(request.headers.get("content-type"), await request.body())
        bundle = await asyncio.to_thread(to_bundle, raw, tz, charset)
        return respond(request, bundle)

    return api


def to_bundle(raw: bytes, tz: ZoneInfo, charset: str) -> dict[str, Any]:
    try:
        bundle = convert(raw, tz=tz, default_charset=charset)
    except InputError as exc:
        raise _at_hl7(exc) from None
    problems = validate(bundle)
    if problems:  # our own mapping made an invalid resource: say where, never 500
        raise problems[0]
    return bundle


def message_bytes(content_type: str | None, body: bytes) -> bytes:
    """The ER7 bytes from the body: as sent, or from a Parameters resource."""
    media = (content_type or "text/plain").split(";", 1)[0].strip().lower()
    if media in ER7_TYPES:
        return body
    fmt = format_named(media)
    if fmt is None:
        raise UnsupportedError(
            f"Content-Type {media[:60]!r} is neither HL7 v2 text nor a FHIR Parameters resource",
            code="unsupported_media_type",
        )
    params = fmt.parse(body)
    if params.get("resourceType") != "Parameters":
        raise InputError(
            "the body must be a Parameters resource",
            code="invalid",
            location=FhirLocation("resourceType"),
        )
    for i, p in enumerate(params.get("parameter") or []):
        if isinstance(p, dict) and p.get("name") == "message":
            value = p.get("valueString")
            if not isinstance(value, str) or not value:
                raise InputError(
                    "parameter 'message' needs a valueString",
                    code="required",
                    location=FhirLocation(f"Parameters.parameter[{i}].valueString"),
                )
            return value.encode("utf-8")
    raise InputError(
        "parameter 'message' is missing", code="required", location=FhirLocation("Parameters")
    )


def _at_hl7(exc: InputError) -> HubError:
    """The error with its HL7 location as the OperationOutcome's ``expression`` (``PID-7``)."""
    if exc.location is None or isinstance(exc.location, FhirLocation):
        return exc
    return type(exc)(
        exc.message, code=exc.code, location=FhirLocation(str(exc.location)), severity=exc.severity
    )
