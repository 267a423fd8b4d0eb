"""Every HTTP route refuses a missing token (401) and a wrong role (403): DESIGN.md section 5.

The roles each route admits are pinned in :data:`ROUTE_ROLES`, not read back from the route's
own guard: a new POST route left open to readers fails here, and so does a route nobody added
to the table (every route of the live app must appear in it).
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from test_api_support import bearer, client, plugin, token

from hub.api.app import create_app
from hub.bootstrap import Hub, default_plugins
from hub.config import Settings
from hub.store.keys import Role

PUBLIC: frozenset[Role] = frozenset()
READ = frozenset({Role.READER, Role.ADMIN})
SEND = frozenset({Role.FEED, Role.ADMIN})
ADMIN = frozenset({Role.ADMIN})
ANY_KEY = frozenset(Role)

# (method, path as the app declares it) -> the roles that may call it; PUBLIC needs no token.
ROUTE_ROLES: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): READ,
    ("GET", "/api/openapi.json"): READ,
    ("GET", "/api/messages"): READ,
    ("GET", "/api/messages/{message_id}"): READ,
    ("POST", "/api/messages/{message_id}/replay"): ADMIN,
    ("POST", "/api/messages/{message_id}/resolve"): ADMIN,
    ("POST", "/api/replay"): ADMIN,
    ("GET", "/api/keys"): ADMIN,
    ("GET", "/api/kpis"): READ,
    ("GET", "/api/kpis.csv"): READ,
    ("GET", "/api/kpis/{kpi}/{basis}"): READ,
    ("POST", "/api/keys/{key_id}/revoke"): ADMIN,
    ("POST", "/api/merges/{merge_id}/undo"): ADMIN,
    ("POST", "/hl7v2"): SEND,
    ("POST", "/x12"): SEND,
    # FHIR (issue 11): metadata is public, reads need a reader; refusals are OperationOutcomes
    ("GET", "/fhir/metadata"): PUBLIC,
    ("GET", "/fhir/{type_name}"): READ,
    ("POST", "/fhir/{type_name}/_search"): READ,
    ("GET", "/fhir/{type_name}/_history"): READ,
    ("GET", "/fhir/{type_name}/{id}"): READ,
    ("GET", "/fhir/{type_name}/{id}/_history"): READ,
    ("GET", "/fhir/{type_name}/{id}/_history/{vid}"): READ,
    # FHIR writes (issue 11): sending is a feed's; $validate and the async status are reads
    ("POST", "/fhir"): SEND,
    ("POST", "/fhir/"): SEND,
    ("POST", "/fhir/{type_name}"): SEND,
    ("PUT", "/fhir/{type_name}"): SEND,
    ("PUT", "/fhir/{type_name}/{id}"): SEND,
    ("PATCH", "/fhir/{type_name}"): SEND,
    ("PATCH", "/fhir/{type_name}/{id}"): SEND,
    ("DELETE", "/fhir/{type_name}"): SEND,
    ("DELETE", "/fhir/{type_name}/{id}"): SEND,
    ("POST", "/fhir/{type_name}/$validate"): READ,
    ("POST", "/fhir/{type_name}/{id}/$validate"): READ,
    ("GET", "/fhir/_async/{message_id}"): READ,
    # HL7 v2 to FHIR (a translation: feeds and readers), subscriptions (PHI to an endpoint the
    # caller names: admin), bulk export (readers; files and status only for the asking key)
    ("POST", "/fhir/$convert-hl7v2"): frozenset(Role),
    ("POST", "/fhir/Subscription"): ADMIN,
    ("GET", "/fhir/Subscription"): ADMIN,
    ("GET", "/fhir/Subscription/{sub_id}"): ADMIN,
    ("DELETE", "/fhir/Subscription/{sub_id}"): ADMIN,
    ("GET", "/fhir/$export"): READ,
    ("GET", "/fhir/Patient/$export"): READ,
    ("GET", "/fhir/$export-status/{job_id}"): READ,
    ("DELETE", "/fhir/$export-status/{job_id}"): READ,
    ("GET", "/fhir/$export-files/{job_id}/{name}"): READ,
    **{(m, "/fhir/{rest:path}"): ANY_KEY for m in ("GET", "POST", "PUT", "PATCH", "DELETE")},
}

# a path only that route answers, where filling every parameter with "1" hits an earlier one
SAMPLE_PATHS = {"/fhir/{rest:path}": "/fhir/1/2/3/4/5"}


def refusal(path: str, r: httpx.Response) -> tuple[str, str]:
    """(code, text) of a refusal: problem JSON, or on FHIR routes an OperationOutcome whose
    ``details.text`` carries the hub's error code."""
    if path == "/fhir" or path.startswith("/fhir/"):
        assert r.headers["content-type"].startswith("application/fhir+json"), path
        issue = r.json()["issue"][0]
        return issue["details"]["text"], issue["diagnostics"]
    assert r.headers["content-type"].startswith("application/problem+json"), path
    return r.json()["code"], r.json().get("detail", "")


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    out = []
    for route in iter_route_contexts(app.routes):
        if route.path is not None and route.path.startswith("/admin"):
            continue  # the console signs in with a session cookie: test_console_routes pins it
        assert isinstance(route.original_route, APIRoute), f"non-API route {route.path}"
        assert route.path is not None and route.methods is not None
        out.extend((m, route.path) for m in sorted(route.methods - {"HEAD", "OPTIONS"}))
    return out


@pytest.fixture
def hub(make_hub, tmp_path: Path) -> Hub:  # type: ignore[no-untyped-def]
    # the shipped plugins too: protocol routes need their own registrations
    return make_hub(Settings(data_dir=tmp_path / "var"), plugins=[*default_plugins(), plugin])


def test_every_route_is_in_the_table(hub: Hub) -> None:
    declared = set(_routes(create_app(hub)))
    missing = declared - set(ROUTE_ROLES)
    assert not missing, f"routes missing from ROUTE_ROLES (pin their roles): {sorted(missing)}"
    gone = set(ROUTE_ROLES) - declared
    assert not gone, f"ROUTE_ROLES names routes the app no longer has: {sorted(gone)}"


def test_every_route_checks_token_and_role(hub: Hub) -> None:
    tokens = {role: token(hub, role) for role in Role}
    with client(hub, raise_server_exceptions=False) as c:
        for (method, declared), allowed in sorted(ROUTE_ROLES.items()):
            path = SAMPLE_PATHS.get(declared) or re.sub(r"\{[^}]+\}", "1", declared)
            where = f"{method} {path}"
            if allowed is PUBLIC:
                assert c.request(method, path).status_code not in (401, 403, 500), where
                continue
            r = c.request(method, path)
            assert r.status_code == 401, where
            assert refusal(path, r)[0] == "token_missing", where
            assert r.headers["www-authenticate"] == "Bearer", where
            r = c.request(method, path, headers=bearer("hub_not-a-real-token"))
            assert (r.status_code, refusal(path, r)[0]) == (401, "token_invalid"), where
            r = c.request(method, path, headers={"Authorization": "Basic abc"})
            assert (r.status_code, refusal(path, r)[0]) == (401, "token_missing"), where
            for role, tok in tokens.items():
                r = c.request(method, path, headers=bearer(tok))
                if role in allowed:
                    assert r.status_code not in (401, 403, 500), (where, role, r.text)
                else:
                    assert r.status_code == 403, (where, role)
                    code, detail = refusal(path, r)
                    assert code == "role", (where, role)
                    assert detail.startswith(f"role {role.value} may not do this"), detail


def test_public_routes_need_no_token(hub: Hub) -> None:
    with client(hub) as c:
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/ready").status_code == 200


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
