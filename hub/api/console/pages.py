"""The console's routers, in the order they are mounted. A new page adds its router here."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.console import routes_auth, routes_dashboard, routes_kpis

ROUTERS: list[APIRouter] = [
    routes_auth.router,
    routes_dashboard.router,
    routes_kpis.router,
]
