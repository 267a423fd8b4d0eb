"""``POST /x12``: one inbound X12 file (feed role), stored before it is answered.

* stored, queued for processing: 202 ``{"id", "outcome": "stored", "type", "sets",
  "sender", "control_number", "answer"}``;
* a byte-identical resend: 200, the same body with ``"outcome": "duplicate"`` and the
  original id (not processed again);
* the same ISA13 from the same sender with other bytes: 409 problem JSON
  ``duplicate_interchange`` with the held id and its TA1 (note 025);
* envelope errors: 400 for interchange errors (answered by a TA1), 422 for group or
  transaction set errors (a 999), problem JSON with the code, location, stored id, answer;
* a sender bound to another credential: 403 ``sender_not_bound``;
* a body over ``max(HUB_HTTP_MAX_BODY_BYTES, HUB_MLLP_MAX_FRAME_BYTES)``: 413 ``too_large``
  (larger files go through the clearinghouse folder or ``hub x12 ingest``).

The answer (a TA1 or 999, when one is due) is returned as text in ``answer``. The store being
down is a 503 (nothing stored: resend). Never a 500 for bad input: every envelope problem is
an :class:`~hub.adapters.x12.errors.InterchangeError` or a 999 error, caught in the peek.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from hub.adapters.x12 import errors as e
from hub.protocols.contract import ApiKit
from hub.protocols.x12.receiver import Submission, X12Receiver
from hub.services.ingest import IngestOutcome
from hub.services.origin import Origin
from hub.services.receive import Ingestor
from hub.store.keys import ApiKey, Role

PROBLEM = "application/problem+json"
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
SUMMARY: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _answer_text(done: Submission) -> str | None:
    answer = done.stored.answer
    return answer.decode("utf-8", "replace") if answer else None


def _summary(done: Submission) -> dict[str, Any]:
    inbound = done.inspection.inbound
    return {
        "id": done.message_id,
        "outcome": done.outcome.value,
        "type": inbound.type,
        "sets": (inbound.meta or {}).get("sets", {}),
        "sender": inbound.sender,
        "control_number": inbound.control_id,
        "answer": _answer_text(done),
    }


def respond(done: Submission) -> Response:
    """The HTTP answer for one submitted file (the table in the module docstring)."""
    if done.outcome is IngestOutcome.STORED:
        return JSONResponse(_summary(done), status_code=202)
    if done.outcome is IngestOutcome.DUPLICATE:
        return JSONResponse(_summary(done), status_code=200)
    if done.outcome is IngestOutcome.HELD:
        return _problem(
            409,
            "Duplicate interchange",
            done.reason,
            code="duplicate_interchange",
            id=done.message_id,
            answer=_answer_text(done),
        )
    error = done.inspection.inbound.rejected
    status = 403 if error is not None and error.code == "sender_not_bound" else 422
    if isinstance(error, e.InterchangeError):
        status = 400
    return _problem(
        status,
        "X12 file refused",
        error.message if error is not None else "refused",
        code=error.code if error is not None else "invalid",
        location=str(error.location) if error is not None and error.location else None,
        ta1_code=getattr(error, "ta1_code", None),
        id=done.message_id,
        answer=_answer_text(done),
    )


def router(kit: ApiKit, service: Ingestor) -> APIRouter:
    """The router factory the app factory calls (the plug-in's ``routers``)."""
    if not isinstance(service, X12Receiver):
        raise TypeError("POST /x12 needs the X12 plug-in's receiver")
    receiver = service
    router = APIRouter()
    limit = max(kit.settings.http_max_body_bytes, kit.settings.mllp_max_frame_bytes)
    feed = kit.require(Role.FEED)

    def too_large() -> Response:
        return _problem(
            413, "Payload too large", f"the body is over the {limit} byte limit", code="too_large"
        )

    @router.post(
        "/x12",
        response_class=Response,
        responses={
            200: {"description": "a duplicate file: the first one's summary", "content": SUMMARY},
            202: {"description": "stored", "content": SUMMARY},
            **kit.documented(400, 403, 409, 413, 422, 503),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/edi-x12": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def post_x12(request: Request, key: ApiKey = Depends(feed)) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return too_large()
        body = await request.body()
        if len(body) > limit:
            return too_large()
        origin = Origin.api_key(key.id, key.name)
        done = await asyncio.to_thread(receiver.submit, body, origin)
        return respond(done)

    return router
