"""Sign in with an API token, sign out."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from hub.api.console import session
from hub.api.console.ratelimit import SignInLimiter
from hub.api.console.templating import render
from hub.errors import Unauthorized
from hub.store.keys import Role

router = APIRouter()

# The sign-in form's own CSRF token (double submit): a cookie set with the form, echoed by it. A
# cross-site page cannot read or set it, so it cannot sign a browser in as someone else.
PRE_COOKIE = "hub_signin"
PRE_SECONDS = 3600


def _pre_token(request: Request) -> str:
    found = request.cookies.get(PRE_COOKIE, "")
    return found if 20 <= len(found) <= 100 and found.isascii() else secrets.token_urlsafe(32)


def _with_pre(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(
        PRE_COOKIE,
        token,
        max_age=PRE_SECONDS,
        path="/admin/sign-in",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _form_page(
    request: Request, token: str, *, target: str, note: str = "", error: str = "", status: int = 200
) -> Response:
    page = render(
        request,
        "admin/sign_in.html",
        {"title": "Sign in", "next": target, "note": note, "error": error, "pre_csrf": token},
        status=status,
    )
    return _with_pre(request, page, token)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_next(value: str) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or "\\" in value:
        return "/admin"
    return value[:500]


def _limiter(request: Request) -> SignInLimiter:
    limiter: SignInLimiter = request.app.state.console_limiter
    return limiter


@router.get("/admin/sign-in")
def sign_in_page(request: Request, next: str = "/admin", reason: str = "") -> Response:
    notes = {
        "expired": "Your session expired; sign in again.",
        "revoked": "That key was revoked; sign in with another token.",
        "signed_out": "Signed out.",
    }
    token = _pre_token(request)
    return _form_page(request, token, target=safe_next(next), note=notes.get(reason, ""))


@router.post("/admin/sign-in")
async def sign_in(request: Request) -> Response:
    client = _client(request)
    limiter = _limiter(request)
    form = await request.form(max_files=0, max_fields=10)
    target = safe_next(str(form.get("next") or "/admin"))
    pre, sent = request.cookies.get(PRE_COOKIE, ""), form.get("csrf")
    if not pre or not isinstance(sent, str) or not hmac.compare_digest(sent, pre):
        await to_thread.run_sync(
            lambda: session.auth_of(request).refused(
                None, action="POST", path=request.url.path, reason="sign-in csrf"
            )
        )
        error = "The sign-in form expired or did not come from this console; try again."
        return _form_page(request, _pre_token(request), target=target, error=error, status=403)
    wait = limiter.retry_after(client)
    if wait > 0:
        error = f"Too many failed sign-ins from your address; try again in {wait:.0f} s."
        refused = _form_page(request, pre, target=target, error=error, status=429)
        refused.headers["retry-after"] = str(int(wait) + 1)
        return refused
    token = form.get("token")
    auth = session.auth_of(request)
    try:
        key = await to_thread.run_sync(
            lambda: auth.sign_in(token if isinstance(token, str) else "", client=client)
        )
    except Unauthorized as exc:
        limiter.failed(client)
        return _form_page(request, pre, target=target, error=exc.message, status=401)
    limiter.succeeded(client)
    response = RedirectResponse(target, status_code=303)
    session.write_session(request, response, session.new_session(key))
    response.delete_cookie(PRE_COOKIE, path="/admin/sign-in", httponly=True, samesite="strict")
    return response


@router.post("/admin/sign-out")
async def sign_out(
    request: Request,
    form: session.ConsoleForm = Depends(session.console_action(Role.READER)),
) -> Response:
    await to_thread.run_sync(
        lambda: session.auth_of(request).sign_out(form.user.key, client=_client(request))
    )
    response = RedirectResponse("/admin/sign-in?reason=signed_out", status_code=303)
    session.write_session(request, response, None)
    return response
