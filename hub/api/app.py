"""The FastAPI application factory. Routers are added per protocol by :data:`ROUTERS`."""

from __future__ import annotations

from fastapi import FastAPI

from hub import __version__
from hub.api import problems
from hub.api.auth import TokenCache
from hub.api.routes_health import router as health_router
from hub.api.routes_messages import router as messages_router
from hub.bootstrap import Hub


def create_app(hub: Hub) -> FastAPI:
    app = FastAPI(title="hub", version=__version__, docs_url="/api/docs",
                  openapi_url="/api/openapi.json", redoc_url=None)
    app.state.hub = hub
    app.state.tokens = TokenCache(hub)
    problems.install(app)
    app.include_router(health_router)
    app.include_router(messages_router)
    for router in _protocol_routers():
        app.include_router(router)
    return app


def _protocol_routers() -> list[object]:
    routers: list[object] = []
    try:
        from hub.api.routes_hl7v2 import router as hl7v2_router
    except ImportError:  # pragma: no cover - until the HL7 v2 adapter lands
        pass
    else:
        routers.append(hl7v2_router)
    return routers
