"""What console routes share: the hub, the raw renderers, the redirect-with-flash answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from starlette.responses import RedirectResponse

from hub.api.console import session
from hub.bootstrap import Hub
from hub.services.raw_view import RawRenderers
from hub.store.messages import MAX_ID

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def renderers_of(request: Request) -> RawRenderers:
    found: RawRenderers = request.app.state.console_renderers
    return found


def back(request: Request, target: str, level: str = "", text: str = "") -> RedirectResponse:
    """303 to ``target`` (a console path), with a flash for the next page."""
    if text:
        session.flash(request, level or "info", text)
    response = RedirectResponse(target if target.startswith("/admin") else "/admin", 303)
    session.keep_flashes(request, response)
    return response
