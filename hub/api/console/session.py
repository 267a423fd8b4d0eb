"""The console session: a signed cookie naming the signed-in key, its CSRF token and flashes.

The cookie holds ``base64url(JSON).hmac`` (HMAC-SHA256 with the console secret): the key's id
(never the token), the session's CSRF token, its expiry and pending flash messages. It is
HttpOnly, SameSite=Strict, and Secure when the request came over TLS. Every request re-checks
that the key is still active, so revoking a key ends its console sessions at once.

:func:`console_user` is the dependency every console page uses::

    @router.get("/admin/kpis")
    def kpis(request: Request, user: ConsoleUser = Depends(console_user(Role.READER))): ...

and :func:`console_action` the one every form post uses (it checks the CSRF token too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from hub.services.console_auth import ConsoleAuth
from hub.services.reads import Actor
from hub.store.keys import ApiKey, Role

COOKIE = "hub_console"
SESSION_SECONDS = 8 * 3600  # a working day; then sign in again
MAX_COOKIE_CHARS = 4096
MAX_FLASHES = 5


class NotSignedIn(Exception):
    """No valid session: the console answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str, reason: str = "") -> None:
        super().__init__(reason)
        self.next_path = next_path
        self.reason = reason


class RoleRefused(Exception):
    """A signed-in user without the role a page or action needs: 403, audited."""

    def __init__(self, user: ConsoleUser, needed: Role) -> None:
        super().__init__(f"role {user.role} may not do this; needs {needed}")
        self.user = user
        self.needed = needed


class CsrfRefused(Exception):
    """A form post whose CSRF token is missing or is not the session's: 403, audited."""

    def __init__(self, user: ConsoleUser) -> None:
        super().__init__("the form's CSRF token is missing or wrong; reload the page")
        self.user = user


@dataclass(frozen=True, slots=True)
class Session:
    key_id: int
    csrf: str
    expires: float
    flashes: tuple[tuple[str, str], ...] = ()  # (level, text)


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The signed-in key's holder, as a console page sees it."""

    key: ApiKey
    csrf: str

    @property
    def role(self) -> Role:
        return self.key.role

    @property
    def is_admin(self) -> bool:
        return self.key.role is Role.ADMIN

    @property
    def actor(self) -> Actor:
        return Actor.console_key(self.key.id, self.key.name)

    @property
    def audit_name(self) -> str:
        return str(self.actor)


class SessionCodec:
    """Signs and reads session cookies with one secret (per hub: ``HUB_CONSOLE_SECRET``, or a
    random one per process, which signs everyone out on restart)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = hashlib.sha256(b"hub-console-session\0" + secret).digest()

    def _mac(self, body: bytes) -> str:
        return hmac.new(self._secret, body, hashlib.sha256).hexdigest()

    def dumps(self, session: Session) -> str:
        payload = {
            "k": session.key_id,
            "c": session.csrf,
            "e": int(session.expires),
            "f": [list(f) for f in session.flashes[-MAX_FLASHES:]],
        }
        # unpadded: "=" would make the cookie value a quoted string
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        body = body.rstrip(b"=")
        return body.decode("ascii") + "." + self._mac(body)

    def loads(self, value: str, *, now: float) -> Session | None:
        """The session in ``value``, or None if it is malformed, forged or expired."""
        if not value or len(value) > MAX_COOKIE_CHARS or "." not in value:
            return None
        body, _, mac = value.rpartition(".")
        expected = self._mac(body.encode("utf-8", "replace")).encode()
        if not hmac.compare_digest(mac.encode("utf-8", "replace"), expected):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(
                key_id=int(data["k"]),
                csrf=str(data["c"]),
                expires=float(data["e"]),
                flashes=tuple((str(a), str(b)) for a, b in data.get("f", [])),
            )
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > now else None


def new_session(key: ApiKey) -> Session:
    return Session(key.id, secrets.token_urlsafe(32), time.time() + SESSION_SECONDS)


def codec_of(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.console_sessions
    return codec


def auth_of(request: Request) -> ConsoleAuth:
    hub = request.app.state.hub
    return ConsoleAuth(uow=hub.uow, clock=hub.clock)


def read_session(request: Request) -> Session | None:
    return codec_of(request).loads(request.cookies.get(COOKIE, ""), now=time.time())


def write_session(request: Request, response: Response, session: Session | None) -> None:
    """Set (or, with None, clear) the session cookie on ``response``."""
    secure = request.url.scheme == "https"
    if session is None:
        response.delete_cookie(
            COOKIE, path="/admin", httponly=True, samesite="strict", secure=secure
        )
        return
    response.set_cookie(
        COOKIE,
        codec_of(request).dumps(session),
        max_age=max(0, int(session.expires - time.time())),
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def flash(request: Request, level: str, text: str) -> None:
    """Queue a message for the next page this session renders (kept in the cookie)."""
    pending: list[tuple[str, str]] = request.state.__dict__.setdefault("console_flashes", [])
    pending.append((level, text[:300]))


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path += "?" + request.url.query
    return quote(path, safe="/?=&")


def _current(request: Request) -> ConsoleUser:
    cached = getattr(request.state, "console_user", None)
    if isinstance(cached, ConsoleUser):
        return cached
    session = read_session(request)
    if session is None:
        reason = "expired" if COOKIE in request.cookies else ""
        raise NotSignedIn(_next_path(request), reason)
    key = auth_of(request).active(session.key_id)
    if key is None:
        raise NotSignedIn(_next_path(request), "revoked")
    user = ConsoleUser(key, session.csrf)
    request.state.console_user = user
    request.state.console_session = session
    return user


def _check_role(request: Request, user: ConsoleUser, role: Role) -> None:
    if role is Role.ADMIN and not user.is_admin:
        auth_of(request).refused(
            user.key, action=request.method, path=request.url.path, reason="role"
        )
        raise RoleRefused(user, role)


def console_user(role: Role = Role.READER) -> Callable[[Request], ConsoleUser]:
    """A dependency: the signed-in user if their role allows ``role`` (admin allows all);
    otherwise a redirect to sign in, or 403 (audited)."""

    def dependency(request: Request) -> ConsoleUser:
        user = _current(request)
        _check_role(request, user, role)
        return user

    return dependency


@dataclass(frozen=True, slots=True)
class ConsoleForm:
    """A checked form post: the user and the form's fields."""

    user: ConsoleUser
    form: FormData

    def get(self, name: str, default: str = "") -> str:
        value = self.form.get(name)
        return value if isinstance(value, str) else default

    def all(self, name: str) -> list[str]:
        return [v for v in self.form.getlist(name) if isinstance(v, str)]


def console_action(role: Role = Role.ADMIN) -> Callable[[Request], Awaitable[ConsoleForm]]:
    """A dependency for a form post: signed in, the role checked first, then the form's CSRF
    token compared with the session's in constant time (403, audited, when it differs)."""

    async def dependency(request: Request) -> ConsoleForm:
        from anyio import to_thread

        user = await to_thread.run_sync(_current, request)
        await to_thread.run_sync(_check_role, request, user, role)
        form = await request.form(max_files=0, max_fields=10_000)
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, user.csrf):
            await to_thread.run_sync(
                lambda: auth_of(request).refused(
                    user.key, action=request.method, path=request.url.path, reason="csrf"
                )
            )
            raise CsrfRefused(user)
        return ConsoleForm(user, form)

    return dependency


def session_flashes(request: Request) -> list[tuple[str, str]]:
    """Flashes carried by the cookie plus any queued in this request (shown once)."""
    session = getattr(request.state, "console_session", None) or read_session(request)
    carried = list(session.flashes) if session is not None else []
    return carried + list(request.state.__dict__.get("console_flashes", []))


def keep_flashes(request: Request, response: Response) -> None:
    """After a redirect: carry this request's flashes to the next page in the cookie."""
    pending = list(request.state.__dict__.get("console_flashes", []))
    session = getattr(request.state, "console_session", None) or read_session(request)
    if session is None:
        return
    flashes = (*session.flashes, *pending)[-MAX_FLASHES:]
    write_session(
        request, response, Session(session.key_id, session.csrf, session.expires, flashes)
    )


def clear_flashes(request: Request, response: Response) -> None:
    """After rendering a page that showed the carried flashes."""
    session = getattr(request.state, "console_session", None)
    if session is not None and session.flashes:
        write_session(request, response, Session(session.key_id, session.csrf, session.expires))
