"""Every HTTP route refuses a missing token (401) and a wrong role (403): DESIGN.md section 5.

Routes are enumerated from the live app, so routers other helpers add later are covered
without touching this file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from test_api_support import bearer, client, plugin, token

from hub.api.app import create_app
from hub.api.auth import RoleGuard
from hub.bootstrap import Hub, default_plugins
from hub.config import Settings
from hub.store.keys import Role

PUBLIC = {("GET", "/health"), ("GET", "/ready"), ("GET", "/fhir/metadata")}
# Feeds send: only these may admit the feed role (DESIGN.md section 5: "feed may send").
SEND_PREFIXES = ("/hl7v2", "/fhir", "/x12")


def _guard(route: RouteContext) -> RoleGuard | None:
    guards: list[RoleGuard] = []
    stack = list(route.dependant.dependencies)  # effective: includes router-level dependencies
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, RoleGuard):
            guards.append(dep.call)
        stack.extend(dep.dependencies)
    assert len(set(map(id, guards))) <= 1, f"{route.path}: more than one role guard"
    return guards[0] if guards else None


def _cases(app: FastAPI) -> list[tuple[str, str, RoleGuard | None]]:
    out = []
    for route in iter_route_contexts(app.routes):
        assert isinstance(route.original_route, APIRoute), f"non-API route {route.path}"
        assert route.path is not None and route.methods is not None
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            out.append((method, path, _guard(route)))
    return out


@pytest.fixture
def hub(make_hub, tmp_path: Path) -> Hub:  # type: ignore[no-untyped-def]
    # the shipped plugins too: protocol routes need their own registrations
    return make_hub(Settings(data_dir=tmp_path / "var"), plugins=[*default_plugins(), plugin])


def test_every_route_checks_token_and_role(hub: Hub) -> None:
    app = create_app(hub)
    cases = _cases(app)
    assert ("GET", "/api/messages") in {(m, p) for m, p, _ in cases}
    tokens = {role: token(hub, role) for role in Role}
    with client(hub, raise_server_exceptions=False) as c:
        for method, path, guard in cases:
            if (method, path) in PUBLIC:
                continue
            where = f"{method} {path}"
            assert guard is not None, f"{where} has no role guard"
            if Role.FEED in guard.roles:
                assert path.startswith(SEND_PREFIXES) and method != "GET", (
                    f"{where} lets feeds in but is not a send route"
                )
            if method == "GET":
                assert Role.READER in guard.roles, f"{where}: readers may read"
            r = c.request(method, path)
            assert r.status_code == 401, where
            assert r.headers["content-type"].startswith("application/problem+json"), where
            assert r.json()["status"] == 401
            r = c.request(method, path, headers=bearer("hub_not-a-real-token"))
            assert r.status_code == 401, where
            r = c.request(method, path, headers={"Authorization": "Basic abc"})
            assert r.status_code == 401, where
            for role, tok in tokens.items():
                r = c.request(method, path, headers=bearer(tok))
                if role in guard.roles:
                    assert r.status_code not in (401, 403, 500), (where, role, r.text)
                else:
                    assert r.status_code == 403, (where, role)
                    assert r.json()["code"] == "role"


def test_public_routes_need_no_token(hub: Hub) -> None:
    with client(hub) as c:
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/ready").status_code == 200


def test_admin_only_routes(hub: Hub) -> None:
    guards = {(m, p): g for m, p, g in _cases(create_app(hub))}
    for route in [("POST", "/api/messages/1/replay"), ("POST", "/api/replay")]:
        guard = guards[route]
        assert guard is not None and guard.roles == {Role.ADMIN}
    metrics = guards[("GET", "/metrics")]
    assert metrics is not None and Role.READER in metrics.roles


def test_tokens_are_stored_hashed(hub: Hub) -> None:
    tok = token(hub, Role.ADMIN)
    with hub.engine.connect() as conn:
        dump = []
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                dump.append(repr(tuple(row)))
    text = "\n".join(dump)
    assert tok not in text and tok[4:] not in text
    with client(hub) as c:
        assert c.get("/api/messages", headers=bearer(tok)).status_code == 200
