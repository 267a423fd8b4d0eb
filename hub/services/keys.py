"""API key administration: create, list, revoke (issue 10, item 10). Each change writes the key
and its audit event (``key.create`` / ``key.revoke``) in one transaction, with the real actor
(entrypoints never write audit rows themselves).

A revocation is committed before it returns; the HTTP front door remembers a token for at most
a second (:data:`hub.api.auth.CACHE_TTL_SECONDS`), so a revoked key stops working everywhere
within that, and at once on a node that revoked it through its own API.
"""

from __future__ import annotations

from hub.clock import Clock
from hub.errors import Conflict, NotFound, ValidationError
from hub.services.reads import Actor
from hub.store import audit, keys
from hub.store.db import UnitOfWorkFactory
from hub.store.keys import ApiKey, KeyInfo, Role
from hub.store.messages import MAX_ID


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationError(f"unknown role {value!r}: use admin, feed or reader") from None


class KeyService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def create(self, *, name: str, role: Role, actor: Actor) -> tuple[ApiKey, str]:
        """A new key and its token (shown once; only its hash is stored)."""
        with self.uow() as u:
            now = self.clock.now()
            key, token = keys.create(u.conn, name=name, role=role, now=now)
            audit.append(
                u.conn,
                at=now,
                actor=str(actor),
                action="key.create",
                object_type="api_key",
                object_id=key.id,
                detail={"role": role.value, "name": name, "via": actor.via},
            )
            u.commit()
        return key, token

    def list(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        """Every key with its role and state; never the token (only its first characters)."""
        with self.uow() as u:
            return keys.list_keys(u.conn, include_revoked=include_revoked)

    def revoke(self, key_id: int, *, actor: Actor, reason: str = "") -> KeyInfo:
        """Revoke ``key_id``. The last active admin key cannot be revoked (nobody could create
        another through the API, and an admin locked out is worse than a key left valid)."""
        with self.uow() as u:
            now = self.clock.now()
            found = keys.get_key(u.conn, key_id) if 1 <= key_id <= MAX_ID else None
            if found is None:
                raise NotFound(f"api key {key_id} not found", code="key_not_found")
            if found.revoked_at is not None:
                raise Conflict(f"api key {key_id} is already revoked", code="already_revoked")
            if found.role is Role.ADMIN and keys.count_admins(u.conn) <= 1:
                raise Conflict(
                    f"api key {key_id} is the last admin key: create another admin key first",
                    code="last_admin",
                )
            keys.revoke(u.conn, key_id, now=now)
            audit.append(
                u.conn,
                at=now,
                actor=str(actor),
                action="key.revoke",
                object_type="api_key",
                object_id=key_id,
                detail={
                    "role": found.role.value,
                    "name": found.name,
                    "reason": reason[:1000],
                    "via": actor.via,
                },
            )
            u.commit()
        return KeyInfo(found.id, found.name, found.role, found.prefix, found.created_at, now)
