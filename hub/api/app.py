"""The FastAPI application factory. Protocol routers are added when their modules exist."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from hub import __version__
from hub.api import guard, problems
from hub.api.auth import TokenCache, require
from hub.api.routes_admin import router as admin_router
from hub.api.routes_health import router as health_router
from hub.api.routes_messages import router as messages_router
from hub.bootstrap import Hub
from hub.store.keys import Role


def create_app(hub: Hub) -> FastAPI:
    # FastAPI's own /docs and /openapi.json would be unauthenticated routes; DESIGN.md section 5
    # allows only /health, /ready and /fhir/metadata without a token, so the schema is served
    # below behind the reader role and the interactive docs are off.
    app = FastAPI(title="hub", version=__version__, docs_url=None, openapi_url=None, redoc_url=None)
    app.state.hub = hub
    app.state.tokens = TokenCache(hub)
    problems.install(app)
    app.include_router(health_router)
    app.include_router(messages_router)
    app.include_router(admin_router)
    app.include_router(_openapi_router(app))
    for router in _protocol_routers():
        app.include_router(router)
    settings = hub.settings
    guard.install(
        app,
        tokens=app.state.tokens,
        max_body=settings.http_max_body_bytes,
        body_timeout=settings.http_body_timeout,
        # a protocol route's documents may be larger than an API call's JSON
        body_limits={"/hl7v2": settings.mllp_max_frame_bytes},
    )
    return app


def _openapi_router(app: FastAPI) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/api/openapi.json", include_in_schema=False, dependencies=[Depends(require(Role.READER))]
    )
    def openapi() -> dict[str, Any]:
        return app.openapi()

    return router


def _protocol_routers() -> list[APIRouter]:
    from hub.api.routes_hl7v2 import router as hl7v2_router

    routers: list[APIRouter] = [hl7v2_router]
    return routers
