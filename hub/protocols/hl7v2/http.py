"""``POST /hl7v2``: one ER7 message or an FHS/BHS batch in, its ACK out (DESIGN.md section 5).

The HTTP status says whether the hub took the message, the ACK says what it thinks of it:
200 with the ACK for AA, AE and AR alike; 204 when the sender asked for no accept ACK
(enhanced mode, MSH-15 NE/ER/SU); 413 for a body over ``HUB_MLLP_MAX_FRAME_BYTES``; 503 problem
JSON when the store is unavailable (nothing stored, so the sender should retry).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request, Response

from hub.protocols.contract import ApiKit
from hub.services.origin import Origin
from hub.services.receive import Ingestor
from hub.store.keys import ApiKey, Role

MEDIA_TYPE = "x-application/hl7-v2+er7"


def router(kit: ApiKit, service: Ingestor) -> APIRouter:
    """The router factory the app factory calls (the plug-in's ``routers``)."""
    router = APIRouter()
    limit = kit.settings.mllp_max_frame_bytes
    feed = kit.require(Role.FEED)

    def too_large() -> Response:
        return kit.problem(
            413, "Payload too large", f"the body is over the {limit} byte limit", code="too_large"
        )

    @router.post(
        "/hl7v2",
        response_class=Response,
        responses={
            200: {"content": {MEDIA_TYPE: {"schema": {"type": "string"}}}},
            204: {"description": "a batch with nothing to acknowledge"},
            **kit.documented(413, 503),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def post_hl7v2(request: Request, key: ApiKey = Depends(feed)) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return too_large()
        body = await request.body()
        if len(body) > limit:
            return too_large()
        # the receipt is audited as this key, and HUB_SENDER_BINDINGS may require it
        origin = Origin.api_key(key.id, key.name)
        ack = await asyncio.to_thread(service.handle, body, origin)
        if not ack:
            return Response(status_code=204)
        return Response(content=ack, media_type=MEDIA_TYPE)

    return router
