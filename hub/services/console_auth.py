"""Console sign-in with an API token, and the audit events around a console session.

The web console (``/admin``) signs a key's holder in with the same API tokens the JSON API
takes; the session cookie then names the key by id, and every request re-checks that the key is
still active (a revoked key's session ends at its next request). Sign-ins, failed sign-ins,
sign-outs and refused actions (a reader posting to an admin route, a forged CSRF token) are
audited here: entrypoints never write audit rows themselves. Audit details carry the client's
address and the key's id, never the token.
"""

from __future__ import annotations

from hub.clock import Clock
from hub.errors import Unauthorized
from hub.services.reads import Actor
from hub.store import audit, keys
from hub.store.db import UnitOfWorkFactory
from hub.store.keys import ApiKey

# A token is "hub_" and 43 URL-safe characters; anything far longer is not a token and is not
# hashed or looked up (a sign-in form is sender-controlled input).
MAX_TOKEN_CHARS = 200


class ConsoleAuth:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def sign_in(self, token: str, *, client: str) -> ApiKey:
        """The active key behind ``token``, with a ``console.sign_in`` event; otherwise a
        ``console.sign_in_failed`` event and :class:`Unauthorized`."""
        token = token.strip()
        with self.uow() as u:
            key = keys.lookup(u.conn, token) if 0 < len(token) <= MAX_TOKEN_CHARS else None
            if key is None or key.role.value == "feed":
                audit.append(
                    u.conn,
                    at=self.clock.now(),
                    actor=f"client:{client[:100]}",
                    action="console.sign_in_failed",
                    object_type="api_key",
                    object_id=str(key.id) if key else "",
                    detail={"via": "console", "reason": "feed role" if key else "unknown token"},
                )
                u.commit()
                if key is not None:
                    raise Unauthorized(
                        "a feed key may send messages but not use the console",
                        code="console_role",
                    )
                raise Unauthorized("unknown or revoked token", code="token_invalid")
            audit.append(
                u.conn,
                at=self.clock.now(),
                actor=str(Actor.console_key(key.id, key.name)),
                action="console.sign_in",
                object_type="api_key",
                object_id=key.id,
                detail={"via": "console", "client": client[:100], "role": key.role.value},
            )
            u.commit()
        return key

    def active(self, key_id: int) -> ApiKey | None:
        """The session's key if it is still active (not revoked)."""
        with self.uow() as u:
            return keys.active_by_id(u.conn, key_id)

    def sign_out(self, key: ApiKey, *, client: str) -> None:
        self._record(key, "console.sign_out", {"client": client[:100]})

    def refused(self, key: ApiKey | None, *, action: str, path: str, reason: str) -> None:
        """A refused console request (``console.denied``): wrong role, forged CSRF token."""
        detail = {"path": path[:200], "wanted": action[:64], "reason": reason[:200]}
        self._record(key, "console.denied", detail)

    def _record(self, key: ApiKey | None, action: str, detail: dict[str, str]) -> None:
        actor = str(Actor.console_key(key.id, key.name)) if key else "console:anonymous"
        with self.uow() as u:
            audit.append(
                u.conn,
                at=self.clock.now(),
                actor=actor,
                action=action,
                object_type="api_key" if key else "",
                object_id=key.id if key else "",
                detail={"via": "console", **detail},
            )
            u.commit()
