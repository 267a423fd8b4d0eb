"""Admin API beside the message store: API keys (list, revoke) and A40 merge undo."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from hub.api.auth import TokenCache, actor_of, require
from hub.api.deps import get_hub
from hub.api.problems import documented
from hub.bootstrap import Hub
from hub.services.keys import KeyService
from hub.services.merges import undo_merge
from hub.services.reads import Actor
from hub.store.keys import ApiKey, KeyInfo, Role
from hub.store.messages import MAX_ID

router = APIRouter(prefix="/api")

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


class Reason(BaseModel):
    reason: str = Field(default="", max_length=1000)


def _key_json(k: KeyInfo) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "role": k.role.value,
        "prefix": k.prefix,
        "created_at": k.created_at.isoformat(),
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
    }


class UndoMerge(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


@router.get("/keys", dependencies=[Depends(require(Role.ADMIN))])
def list_keys(hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    return {"items": [_key_json(k) for k in KeyService(uow=hub.uow, clock=hub.clock).list()]}


@router.post("/keys/{key_id}/revoke", responses=documented(404, 409, 422))
def revoke_key(
    key_id: RowId,
    request: Request,
    body: Reason | None = None,
    hub: Hub = Depends(get_hub),
    key: ApiKey = Depends(require(Role.ADMIN)),
) -> dict[str, Any]:
    reason = body.reason if body else ""
    service = KeyService(uow=hub.uow, clock=hub.clock)
    info = service.revoke(key_id, actor=Actor.api_key(key.id, key.name), reason=reason)
    tokens: TokenCache = request.app.state.tokens
    tokens.invalidate()  # effective at once on this node; elsewhere within the cache's TTL
    return _key_json(info)


@router.post("/merges/{merge_id}/undo", responses=documented(404, 409, 422))
def undo(
    merge_id: RowId,
    body: UndoMerge,
    hub: Hub = Depends(get_hub),
    key: ApiKey = Depends(require(Role.ADMIN)),
) -> dict[str, Any]:
    survivor, merged = undo_merge(hub.uow, merge_id, actor_of(key), hub.clock, body.reason)
    return {"merge_id": merge_id, "undone": True, "survivor_id": survivor, "merged_id": merged}
