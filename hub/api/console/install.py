"""Mount the console on the API's app: its pages, static files, session codec, error pages.

Pages are the routers in :data:`hub.api.console.pages.ROUTERS`. Errors on console paths are
answered as HTML pages (a redirect to sign in, 403, 404, 409, 422); every other path keeps the
API's problem JSON.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.console import session
from hub.api.console.pages import ROUTERS
from hub.api.console.ratelimit import SignInLimiter
from hub.api.console.templating import environment, render
from hub.api.problems import status_for
from hub.errors import HubError
from hub.services.raw_view import RawRenderers

PREFIX = "/admin"
STATIC = "/admin/static"

# Console pages load nothing from elsewhere and run no inline script: an injected <script>
# that escaping missed would still not run.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]

HTML: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}
# What every console page may answer besides its page (the OpenAPI schema says it): a redirect
# to sign in, and the error pages below.
PAGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "the page", "content": HTML},
    303: {"description": "not signed in (or done): go to the Location"},
    **{
        s: {"description": HTTPStatus(s).phrase, "content": HTML}
        for s in (400, 401, 403, 404, 409, 422, 429, 503)
    },
}

Handler = Callable[[Request, Any], Awaitable[Response] | Response]


def install(app: FastAPI, secret: bytes | None) -> None:
    from pathlib import Path

    app.state.console_sessions = session.SessionCodec(secret or secrets.token_bytes(32))
    app.state.console_templates = environment()
    app.state.console_limiter = SignInLimiter()
    renderers = RawRenderers()
    for plugin in app.state.hub.plugins:
        if plugin.raw_renderer is not None:
            renderers.register(plugin.name, plugin.raw_renderer)
    app.state.console_renderers = renderers
    for router in ROUTERS:
        app.include_router(router, responses=PAGE_ANSWERS, default_response_class=HTMLResponse)
    static = Path(__file__).parent / "static"
    app.mount(STATIC, StaticFiles(directory=static), name="console-static")
    _install_error_pages(app)
    app.add_middleware(_SecurityHeaders)


def _is_console(request: Request) -> bool:
    path = request.url.path
    return (path == PREFIX or path.startswith(PREFIX + "/")) and not path.startswith(STATIC)


def _error_page(request: Request, status: int, title: str, detail: str) -> Response:
    return render(
        request,
        "admin/error.html",
        {"title": title, "detail": detail, "status": status},
        status=status,
    )


def _install_error_pages(app: FastAPI) -> None:
    api_handlers = dict(app.exception_handlers)

    def delegate(exc_type: type[Exception]) -> Handler:
        return cast(Handler, api_handlers[exc_type])

    async def not_signed_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, session.NotSignedIn)
        target = f"/admin/sign-in?next={exc.next_path}"
        if exc.reason:
            target += f"&reason={exc.reason}"
        response = RedirectResponse(target, status_code=303)
        if exc.reason:  # an expired or revoked session's cookie is useless: drop it
            session.write_session(request, response, None)
        return response

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, session.RoleRefused | session.CsrfRefused)
        return _error_page(request, 403, "Not allowed", str(exc))

    async def hub_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HubError)
        if not _is_console(request):
            return await _call(delegate(HubError), request, exc)
        return _error_page(request, status_for(exc), type(exc).__name__, exc.message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not _is_console(request):
            return await _call(delegate(StarletteHTTPException), request, exc)
        return _error_page(
            request,
            exc.status_code,
            "Not found" if exc.status_code == 404 else "Error",
            str(exc.detail),
        )

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not _is_console(request):
            return await _call(delegate(RequestValidationError), request, exc)
        fields = ", ".join(
            ".".join(str(p) for p in e.get("loc", ())[1:]) or "request" for e in exc.errors()
        )
        return _error_page(request, 422, "Invalid request", f"check these fields: {fields}")

    app.add_exception_handler(session.NotSignedIn, not_signed_in)
    app.add_exception_handler(session.RoleRefused, refused)
    app.add_exception_handler(session.CsrfRefused, refused)
    app.add_exception_handler(HubError, hub_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    if isinstance(result, Response):
        return result
    return await result


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
