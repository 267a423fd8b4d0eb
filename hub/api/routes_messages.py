"""Admin API over the message store: search, detail, replay (one, edited, or by filter)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field, StrictBool, StrictInt

from hub.api.auth import actor_of, require
from hub.api.deps import get_hub
from hub.api.params import IsoDateTime
from hub.api.problems import documented
from hub.bootstrap import Hub
from hub.errors import ValidationError
from hub.services import query, replay_preview
from hub.services.reads import Actor, ReadService
from hub.services.review import resolve_message
from hub.store.keys import ApiKey, Role
from hub.store.lifecycle import Status
from hub.store.messages import MAX_ID, MessageFilter

router = APIRouter(prefix="/api")

# Bounds a request can name (issue 10, item 8): 64-bit ids, a page offset no scan should pass,
# and as many ids in one replay as its ``limit`` allows.
MAX_OFFSET = 10_000_000
MAX_IDS = 100_000
MessageId = Annotated[int, Path(ge=1, le=MAX_ID, description="a message id")]
ListedId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
# a status filter is a lifecycle name (query.parse_status refuses others with the list)
STATUSES: dict[str, Any] = {"enum": [s.value for s in Status]}


@router.get("/messages", responses=documented(422))
def list_messages(
    *,
    status: Annotated[str | None, Query(json_schema_extra=STATUSES)] = None,
    type: str | None = None,
    sender: str | None = None,
    control_id: str | None = None,
    patient: str | None = None,
    protocol: str | None = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    hub: Hub = Depends(get_hub),
    key: ApiKey = Depends(require(Role.READER)),
) -> dict[str, Any]:
    flt = MessageFilter(
        status=query.parse_status(status),
        type=type,
        sender=sender,
        control_id=control_id,
        patient=patient,
        protocol=protocol,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    items = _reads(hub).messages(flt, _actor(key))  # by patient: an audited PHI search
    return {"items": items, "count": len(items), "limit": limit, "offset": offset}


@router.get("/messages/{message_id}", responses=documented(404, 422))
def get_message(
    message_id: MessageId, hub: Hub = Depends(get_hub), key: ApiKey = Depends(require(Role.READER))
) -> dict[str, Any]:
    return _reads(hub).message(message_id, _actor(key))  # raw content is PHI: audited


def _reads(hub: Hub) -> ReadService:
    return ReadService(uow=hub.uow, clock=hub.clock)


def _actor(key: ApiKey) -> Actor:
    return Actor.api_key(key.id, key.name)


class ReplayOne(BaseModel):
    reason: str = Field(default="", max_length=1000)
    raw: str | None = Field(default=None, description="edited message; stored as a new revision")


@router.post("/messages/{message_id}/replay", responses=documented(404, 409, 422))
def replay_one(
    message_id: MessageId,
    body: ReplayOne | None = None,
    hub: Hub = Depends(get_hub),
    key: ApiKey = Depends(require(Role.ADMIN)),
) -> dict[str, Any]:
    body = body or ReplayOne()
    if body.raw is not None:
        new_id = hub.replay.replay_edited(
            message_id, body.raw.encode("utf-8"), actor=actor_of(key), reason=body.reason
        )
        return {"replayed": [new_id], "revision_of": message_id}
    done = list(hub.replay.replay([message_id], actor=actor_of(key), reason=body.reason))
    return {"replayed": done}


class ReplayFilter(BaseModel):
    # strict where pydantic would coerce what the schema refuses ("true" for a boolean)
    ids: list[ListedId] = Field(default_factory=list, max_length=MAX_IDS)
    status: str | None = Field(default=None, json_schema_extra=STATUSES)
    type: str | None = None
    sender: str | None = None
    patient: str | None = None
    since: IsoDateTime | None = None
    until: IsoDateTime | None = None
    limit: StrictInt = Field(default=10_000, ge=1, le=100_000)
    dry_run: StrictBool = False
    reason: str = Field(default="", max_length=1000)


@router.post("/replay", responses=documented(422))
def replay_filter(
    body: ReplayFilter, hub: Hub = Depends(get_hub), key: ApiKey = Depends(require(Role.ADMIN))
) -> dict[str, Any]:
    if not body.ids and not any(
        [body.status, body.type, body.sender, body.patient, body.since, body.until]
    ):
        raise ValidationError(
            "give ids or at least one filter (status, type, sender, patient, since, until)",
            code="filter_required",
        )
    flt = MessageFilter(
        ids=body.ids,
        status=query.parse_status(body.status),
        type=body.type,
        sender=body.sender,
        patient=body.patient,
        since=body.since,
        until=body.until,
        limit=body.limit,
        newest_first=False,
    )
    plan = hub.replay.plan(flt)
    if body.dry_run:
        shown = replay_preview.preview(
            hub.uow, hub.clock, hub.registry, plan.ids, actor=actor_of(key)
        )
        return {
            "dry_run": True,
            "would_replay": plan.ids,
            "skipped": [{"id": i, "reason": r} for i, r in plan.skipped],
            # per message (the first few): the PM changes it would make, and the diff
            "previews": jsonable_encoder([dataclasses.asdict(p) for p in shown]),
        }
    done = list(hub.replay.replay(plan.ids, actor=actor_of(key), reason=body.reason))
    return {
        "dry_run": False,
        "replayed": done,
        "skipped": [{"id": i, "reason": r} for i, r in plan.skipped],
    }


class Resolve(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


@router.post("/messages/{message_id}/resolve", responses=documented(404, 409, 422))
def resolve_one(
    message_id: MessageId,
    body: Resolve,
    hub: Hub = Depends(get_hub),
    key: ApiKey = Depends(require(Role.ADMIN)),
) -> dict[str, Any]:
    """Close a held or failed message without replaying it (audited)."""
    was = resolve_message(hub.uow, hub.clock, message_id, actor=actor_of(key), reason=body.reason)
    return {"id": message_id, "status": "resolved", "was": was.value}
