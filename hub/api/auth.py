"""Bearer-token auth with roles: ``feed`` may send, ``reader`` may read, ``admin`` may do all."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request

from hub.bootstrap import Hub
from hub.errors import Forbidden, Unauthorized
from hub.services.reads import Actor
from hub.store import keys
from hub.store.keys import ApiKey, Role


@dataclass
class _Cached:
    key: ApiKey | None
    until: float


class TokenCache:
    """Remembers token look-ups for a few seconds: the ACK path should not pay a query each."""

    def __init__(self, hub: Hub, ttl: float = 30.0) -> None:
        self.hub = hub
        self.ttl = ttl
        self._cache: dict[str, _Cached] = {}

    def lookup(self, token: str) -> ApiKey | None:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit.until > now:
            return hit.key
        with self.hub.uow() as uow:
            key = keys.lookup(uow.conn, token)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = _Cached(key, now + self.ttl)
        return key


def authenticate(request: Request) -> ApiKey:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token", code="token_missing")
    cache: TokenCache = request.app.state.tokens
    key = cache.lookup(token.strip())
    if key is None:
        raise Unauthorized("unknown or revoked token", code="token_invalid")
    return key


class RoleGuard:
    """A dependency: the caller's key, if its role is in :attr:`roles` (admin always passes).

    A class rather than a closure so the allowed roles can be read back from a route (the
    route-enumerating auth test checks every route against them).
    """

    def __init__(self, *roles: Role) -> None:
        self.roles: frozenset[Role] = frozenset(roles) | {Role.ADMIN}

    def __call__(self, request: Request) -> ApiKey:
        key = authenticate(request)
        if key.role not in self.roles:
            raise Forbidden(
                f"role {key.role} may not do this; needs "
                + " or ".join(sorted(r.value for r in self.roles)),
                code="role",
            )
        request.state.actor = actor_of(key)
        return key


def require(*roles: Role) -> RoleGuard:
    """``Depends(require(Role.READER))``: readers and admins pass, others get 403."""
    return RoleGuard(*roles)


def actor_of(key: ApiKey) -> str:
    """The audit log's name for a key's holder: ``key:<id>:<name>``."""
    return str(Actor.api_key(key.id, key.name))
