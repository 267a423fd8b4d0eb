"""FastAPI dependencies shared by routers."""

from __future__ import annotations

from fastapi import Request

from hub.bootstrap import Hub


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub
