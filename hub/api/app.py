"""The FastAPI application factory. Each protocol plug-in's routers are mounted from the hub's
plug-ins (:attr:`hub.bootstrap.Hub.plugins`), built with an :class:`ApiKit` lending them the
API's auth guards and problem answers; the factory itself never names a protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response

from hub import __version__
from hub.api import guard, openapi, problems
from hub.api.auth import TokenCache, require
from hub.api.console import install as console
from hub.api.routes_admin import router as admin_router
from hub.api.routes_health import router as health_router
from hub.api.routes_kpis import router as kpis_router
from hub.api.routes_messages import router as messages_router
from hub.bootstrap import Hub
from hub.config import Settings
from hub.errors import HubError
from hub.store.keys import ApiKey, Role


def create_app(hub: Hub) -> FastAPI:
    # FastAPI's own /docs and /openapi.json would be unauthenticated routes; DESIGN.md section 5
    # allows only /health, /ready and /fhir/metadata without a token, so the schema is served
    # below behind the reader role and the interactive docs are off.
    app = FastAPI(title="hub", version=__version__, docs_url=None, openapi_url=None, redoc_url=None)
    app.state.hub = hub
    app.state.tokens = TokenCache(hub)
    app.state.openapi = None  # built on the first request for it, once every route is in
    problems.install(app)
    app.include_router(health_router)
    app.include_router(messages_router)
    app.include_router(admin_router)
    app.include_router(kpis_router)
    app.include_router(_openapi_router(app))
    secret = hub.settings.console_secret
    console.install(app, secret.get_secret_value().encode() if secret else None)
    kit = ApiKit(hub.settings)
    document_routes: list[str] = []
    for plugin in hub.plugins:
        receiver = hub.receiver(plugin.name)
        for make_router in plugin.routers:
            router = make_router(kit, receiver)
            document_routes.extend(getattr(r, "path", "") for r in router.routes)
            app.include_router(router)
    settings = hub.settings
    # a protocol route's documents may be as large as a frame, larger than an API call's JSON
    document_limit = max(settings.http_max_body_bytes, settings.mllp_max_frame_bytes)
    guard.install(
        app,
        tokens=app.state.tokens,
        max_body=settings.http_max_body_bytes,
        body_timeout=settings.http_body_timeout,
        body_limits={path: document_limit for path in document_routes if path},
    )
    return app


class ApiKit:
    """The API's half of :class:`hub.protocols.contract.ApiKit`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def settings(self) -> Settings:
        return self._settings

    def require(
        self, *roles: Role, answer: Callable[[HubError], Response] | None = None
    ) -> Callable[[Request], ApiKey]:
        return require(*roles, answer=answer)

    def problem(self, status: int, title: str, detail: str, *, code: str) -> Response:
        return problems.problem(status, title, detail, code=code)

    def documented(self, *statuses: int) -> dict[int | str, dict[str, Any]]:
        return problems.documented(*statuses)


def _openapi_router(app: FastAPI) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/api/openapi.json", include_in_schema=False, dependencies=[Depends(require(Role.READER))]
    )
    def openapi_document() -> dict[str, Any]:
        if app.state.openapi is None:
            app.state.openapi = openapi.schema(app)
        document: dict[str, Any] = app.state.openapi
        return document

    return router
