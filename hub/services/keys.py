"""Admin use cases on API tokens: create, list, revoke, each change audited (issue 10, item 10).

A revocation is committed before it returns; the HTTP front door remembers a token for at most
a second (:data:`hub.api.auth.CACHE_TTL_SECONDS`), so a revoked key stops working everywhere
within that, and at once on a node that revoked it through its own API.
"""

from __future__ import annotations

from hub.clock import Clock
from hub.errors import Conflict, NotFound
from hub.store import audit, keys
from hub.store.db import UnitOfWorkFactory
from hub.store.keys import ApiKey, KeyInfo, Role
from hub.store.messages import MAX_ID


def create_key(
    uow_factory: UnitOfWorkFactory, clock: Clock, *, name: str, role: Role, actor: str
) -> tuple[ApiKey, str]:
    """A new key and its token (shown once, never stored in clear)."""
    with uow_factory() as uow:
        key, token = keys.create(uow.conn, name=name, role=role, now=clock.now())
        audit.append(
            uow.conn,
            at=clock.now(),
            actor=actor,
            action="key.create",
            object_type="api_key",
            object_id=key.id,
            detail={"role": role.value, "name": name},
        )
        uow.commit()
    return key, token


def list_keys(uow_factory: UnitOfWorkFactory, *, include_revoked: bool = True) -> list[KeyInfo]:
    with uow_factory() as uow:
        return keys.list_keys(uow.conn, include_revoked=include_revoked)


def revoke_key(
    uow_factory: UnitOfWorkFactory, clock: Clock, key_id: int, *, actor: str, reason: str = ""
) -> KeyInfo:
    """Revoke ``key_id``. The last active admin key cannot be revoked (nobody could create
    another through the API, and an admin locked out is worse than a key left valid)."""
    now = clock.now()
    with uow_factory() as uow:
        found = keys.get_key(uow.conn, key_id) if 1 <= key_id <= MAX_ID else None
        if found is None:
            raise NotFound(f"api key {key_id} not found", code="key_not_found")
        if found.revoked_at is not None:
            raise Conflict(f"api key {key_id} is already revoked", code="already_revoked")
        if found.role is Role.ADMIN and keys.count_admins(uow.conn) <= 1:
            raise Conflict(
                f"api key {key_id} is the last admin key: create another admin key first",
                code="last_admin",
            )
        keys.revoke(uow.conn, key_id, now=now)
        audit.append(
            uow.conn,
            at=now,
            actor=actor,
            action="key.revoke",
            object_type="api_key",
            object_id=key_id,
            detail={"role": found.role.value, "name": found.name, "reason": reason[:1000]},
        )
        uow.commit()
    return keys.KeyInfo(found.id, found.name, found.role, found.prefix, found.created_at, now)
