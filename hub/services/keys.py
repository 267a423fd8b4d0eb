"""API key administration: creating a key writes the key and its ``key.create`` audit event in
one transaction, with the real actor (entrypoints never write audit rows themselves)."""

from __future__ import annotations

from hub.clock import Clock
from hub.errors import ValidationError
from hub.services.reads import Actor
from hub.store import audit, keys
from hub.store.db import UnitOfWorkFactory
from hub.store.keys import ApiKey, Role


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
