"""The dashboard: what the hub did in the last 24 hours and what is waiting now."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hub.api.console.session import ConsoleUser, console_user
from hub.api.console.templating import render
from hub.store.keys import Role

router = APIRouter()


@router.get("/admin")
def dashboard(request: Request, user: ConsoleUser = Depends(console_user(Role.READER))) -> Response:
    return render(request, "admin/dashboard.html", {"title": "Dashboard"})
