"""The console's routers, in the order they are mounted. A new page adds its router here."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.console import (
    routes_audit,
    routes_auth,
    routes_dashboard,
    routes_destinations,
    routes_keys,
    routes_kpis,
    routes_messages,
    routes_patients,
    routes_replay,
)

ROUTERS: list[APIRouter] = [
    routes_auth.router,
    routes_dashboard.router,
    routes_messages.router,
    routes_replay.router,
    routes_patients.router,
    routes_destinations.router,
    routes_audit.router,
    routes_keys.router,
    routes_kpis.router,
]
