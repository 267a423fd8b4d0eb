"""Every console route is pinned with the role it needs: a visitor is sent to sign in, a reader
posting to an admin route gets 403 (audited), an admin passes. A route missing from the table
fails here, like the JSON API's own table in test_api_auth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from console_support import csrf_of, sign_in
from fastapi.routing import iter_route_contexts
from test_api_support import client, plugin, token

from hub.api.app import create_app
from hub.bootstrap import Hub, default_plugins
from hub.config import Settings
from hub.services.audit_log import AuditFilter, list_events
from hub.services.reads import Actor
from hub.store.keys import Role

PUBLIC = "public"
READ = "reader"
ADMIN = "admin"

CONSOLE_ROLES: dict[tuple[str, str], str] = {
    ("GET", "/admin/sign-in"): PUBLIC,
    ("POST", "/admin/sign-in"): PUBLIC,
    ("POST", "/admin/sign-out"): READ,
    ("GET", "/admin"): READ,
    ("GET", "/admin/messages"): READ,
    ("GET", "/admin/messages/{message_id}"): READ,
    ("POST", "/admin/messages/{message_id}/replay"): ADMIN,
    ("POST", "/admin/messages/{message_id}/resolve"): ADMIN,
    ("POST", "/admin/messages/{message_id}/dry-run"): ADMIN,
    ("GET", "/admin/messages/{message_id}/edit"): ADMIN,
    ("POST", "/admin/messages/{message_id}/edit"): ADMIN,
    ("POST", "/admin/replay"): ADMIN,
    ("POST", "/admin/merges/{merge_id}/undo"): ADMIN,
    ("GET", "/admin/patients/{patient_id}"): READ,
    ("GET", "/admin/destinations"): READ,
    ("POST", "/admin/destinations/{name}/pause"): ADMIN,
    ("POST", "/admin/destinations/{name}/resume"): ADMIN,
    ("POST", "/admin/deliveries/{delivery_id}/resend"): ADMIN,
    ("GET", "/admin/audit"): READ,
    ("GET", "/admin/audit/export"): READ,
    ("GET", "/admin/keys"): ADMIN,
    ("POST", "/admin/keys"): ADMIN,
    ("POST", "/admin/keys/{key_id}/revoke"): ADMIN,
}
# pages other helpers add to the console pin their own roles in their tests
OTHERS = re.compile(r"^/admin/kpis")


@pytest.fixture
def hub(make_hub, tmp_path: Path) -> Hub:  # type: ignore[no-untyped-def]
    return make_hub(Settings(data_dir=tmp_path / "var"), plugins=[*default_plugins(), plugin])


def _console_routes(hub: Hub) -> set[tuple[str, str]]:
    found = set()
    for ctx in iter_route_contexts(create_app(hub).routes):
        path = ctx.path or ""
        if not path.startswith("/admin") or path.startswith("/admin/static") or OTHERS.match(path):
            continue
        found.update((m, path) for m in (ctx.methods or ()) - {"HEAD", "OPTIONS"})
    return found


def test_every_console_route_is_in_the_table(hub: Hub) -> None:
    declared = _console_routes(hub)
    assert declared - set(CONSOLE_ROLES) == set(), "pin the role of each new console route"
    assert set(CONSOLE_ROLES) - declared == set(), "the table names routes that are gone"


def _path(declared: str) -> str:
    return re.sub(r"\{name\}", "ehr", re.sub(r"\{[a-z_]+_id\}", "1", declared))


def test_visitors_are_sent_to_sign_in(hub: Hub) -> None:
    with client(hub) as c:
        for (method, declared), role in sorted(CONSOLE_ROLES.items()):
            if role == PUBLIC:
                continue
            r = c.request(method, _path(declared), follow_redirects=False)
            assert r.status_code == 303, (method, declared)
            assert r.headers["location"].startswith("/admin/sign-in?next="), declared


def test_a_reader_is_refused_admin_routes_and_it_is_audited(hub: Hub) -> None:
    reader = token(hub, Role.READER, name="rita")
    admin_routes = [k for k, v in CONSOLE_ROLES.items() if v == ADMIN]
    with client(hub, raise_server_exceptions=False) as c:
        sign_in(c, reader)
        csrf = csrf_of(c)
        for method, declared in admin_routes:
            r = c.request(
                method,
                _path(declared),
                data={"csrf": csrf, "reason": "x"} if method == "POST" else None,
                follow_redirects=False,
            )
            assert r.status_code == 403, (method, declared, r.status_code)
            assert "may not do this" in r.text
        # and a reader sees no admin control on the pages it may read
        page = c.get("/admin/messages?status=failed").text
        assert "Replay selected" not in page
        assert 'href="/admin/keys"' not in c.get("/admin").text
    events = list_events(
        hub.uow, hub.clock, AuditFilter(action="console.denied", limit=500), Actor.cli_user()
    )
    assert len(events) == len(admin_routes)
    assert all(e["actor"].endswith(":rita-reader") for e in events)
    assert {e["detail"]["reason"] for e in events} == {"role"}


def test_an_admin_reaches_every_page(hub: Hub) -> None:
    admin = token(hub, Role.ADMIN)
    with client(hub, raise_server_exceptions=False) as c:
        sign_in(c, admin)
        for (method, declared), _ in sorted(CONSOLE_ROLES.items()):
            if method != "GET" or "{" in declared:
                continue
            r = c.get(declared)
            assert r.status_code == 200, (declared, r.text[:300])
            assert r.headers["content-type"].startswith(("text/html", "application/fhir+json")), (
                declared
            )


def test_unknown_console_pages_answer_html_not_json(hub: Hub) -> None:
    admin = token(hub, Role.ADMIN)
    with client(hub) as c:
        sign_in(c, admin)
        r = c.get("/admin/messages/999")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "message 999 not found" in r.text
        r = c.get("/admin/messages/0")
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("text/html")
        # the JSON API keeps its problem answers
        assert c.get("/api/messages").headers["content-type"] == "application/problem+json"
