"""Sign in with an API token, sign out."""

from __future__ import annotations

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
    return render(
        request,
        "admin/sign_in.html",
        {"title": "Sign in", "next": safe_next(next), "note": notes.get(reason, ""), "error": ""},
    )


@router.post("/admin/sign-in")
async def sign_in(request: Request) -> Response:
    client = _client(request)
    limiter = _limiter(request)
    form = await request.form(max_files=0, max_fields=10)
    target = safe_next(str(form.get("next") or "/admin"))
    wait = limiter.retry_after(client)
    if wait > 0:
        refused = render(
            request,
            "admin/sign_in.html",
            {
                "title": "Sign in",
                "next": target,
                "note": "",
                "error": f"Too many failed sign-ins from your address; try again in {wait:.0f} s.",
            },
            status=429,
        )
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
        return render(
            request,
            "admin/sign_in.html",
            {"title": "Sign in", "next": target, "note": "", "error": exc.message},
            status=401,
        )
    limiter.succeeded(client)
    response = RedirectResponse(target, status_code=303)
    session.write_session(request, response, session.new_session(key))
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
