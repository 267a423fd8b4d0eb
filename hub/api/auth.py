"""Bearer-token auth with roles: ``feed`` may send, ``reader`` may read, ``admin`` may do all.

The token and role are checked twice, cheaply: first by :class:`hub.api.guard.RequestGuard`
before the request body is read (an unauthenticated client cannot make the hub buffer a body),
then by the route's :class:`RoleGuard` dependency, which reuses the key the front door found.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response

from hub.bootstrap import Hub
from hub.errors import Forbidden, HubError, Unauthorized
from hub.services.reads import Actor
from hub.store import keys
from hub.store.keys import ApiKey, Role

# A revoked key keeps working on another node for at most this long (issue 10: "within a
# second elsewhere"); the node that revokes forgets the key at once (:meth:`invalidate`).
CACHE_TTL_SECONDS = 1.0


@dataclass
class _Cached:
    key: ApiKey | None
    until: float


class TokenCache:
    """Remembers token look-ups for a second: a burst of requests pays one query per token."""

    def __init__(self, hub: Hub, ttl: float = CACHE_TTL_SECONDS) -> None:
        self.hub = hub
        self.ttl = ttl
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> _Cached | None:
        """The remembered look-up, if still fresh (no database access: safe on the event loop)."""
        hit = self._cache.get(token)
        return hit if hit is not None and hit.until > time.monotonic() else None

    def lookup(self, token: str) -> ApiKey | None:
        now = time.monotonic()
        hit = self.cached(token)
        if hit is not None:
            return hit.key
        with self.hub.uow() as uow:
            key = keys.lookup(uow.conn, token)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = _Cached(key, now + self.ttl)
        return key

    def invalidate(self) -> None:
        """Forget every look-up (after a revocation on this node)."""
        with self._lock:
            self._cache.clear()


def bearer_token(header: str) -> str:
    """The token of an ``Authorization: Bearer ...`` header value, or 401."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token", code="token_missing")
    return token.strip()


def known_key(key: ApiKey | None) -> ApiKey:
    if key is None:
        raise Unauthorized("unknown or revoked token", code="token_invalid")
    return key


def authenticate_header(header: str, cache: TokenCache) -> ApiKey:
    """The key behind an ``Authorization: Bearer ...`` header value, or 401."""
    key = cache.lookup(bearer_token(header))
    if key is None:
        raise Unauthorized("unknown or revoked token", code="token_invalid")
    return key


def authenticate(request: Request) -> ApiKey:
    cache: TokenCache = request.app.state.tokens
    return authenticate_header(request.headers.get("authorization", ""), cache)


class RoleGuard:
    """A dependency: the caller's key, if its role is in :attr:`roles` (admin always passes).

    A class rather than a closure so the front door (:mod:`hub.api.guard`) can find a route's
    guard and check it before the body is read.
    """

    def __init__(self, *roles: Role, answer: Callable[[HubError], Response] | None = None) -> None:
        self.roles: frozenset[Role] = frozenset(roles) | {Role.ADMIN}
        # a protocol's own form of a refusal (FHIR OperationOutcome); problem JSON when None
        self.answer = answer

    def check(self, key: ApiKey) -> ApiKey:
        if key.role not in self.roles:
            raise Forbidden(
                f"role {key.role} may not do this; needs "
                + " or ".join(sorted(r.value for r in self.roles)),
                code="role",
            )
        return key

    def __call__(self, request: Request) -> ApiKey:
        found = getattr(request.state, "api_key", None)
        key = self.check(found if isinstance(found, ApiKey) else authenticate(request))
        request.state.actor = actor_of(key)
        return key


def require(*roles: Role, answer: Callable[[HubError], Response] | None = None) -> RoleGuard:
    """``Depends(require(Role.READER))``: readers and admins pass, others get 403."""
    return RoleGuard(*roles, answer=answer)


def actor_of(key: ApiKey) -> str:
    """The audit log's name for a key's holder: ``key:<id>:<name>``."""
    return str(Actor.api_key(key.id, key.name))
