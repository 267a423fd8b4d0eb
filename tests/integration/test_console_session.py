"""Console sign-in: the cookie's attributes, CSRF on every form, sign-out, the rate limit,
expired and revoked sessions, and a reader refused (and audited) on admin routes."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from console_support import csrf_of, sign_in, sign_in_form
from test_api_support import client, plugin, token

from hub.api.console.session import COOKIE, Session, SessionCodec
from hub.bootstrap import Hub
from hub.config import Settings
from hub.services.audit_log import AuditFilter, list_events
from hub.services.reads import Actor
from hub.store.keys import Role


@pytest.fixture
def hub(make_hub, tmp_path: Path) -> Hub:  # type: ignore[no-untyped-def]
    return make_hub(Settings(data_dir=tmp_path / "var"), plugins=[plugin])


def _session_cookie(r: httpx.Response) -> str:
    found = [v for v in r.headers.get_list("set-cookie") if v.startswith(COOKIE + "=")]
    assert len(found) == 1, r.headers.get_list("set-cookie")
    return found[0]


def _actions(hub: Hub) -> list[str]:
    flt = AuditFilter(limit=1000)
    return [e["action"] for e in list_events(hub.uow, hub.clock, flt, Actor.cli_user())]


def test_unsigned_visitor_is_sent_to_sign_in(hub: Hub) -> None:
    with client(hub) as c:
        r = c.get("/admin?since=1h", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/admin/sign-in?next=/admin?since=1h"


def test_sign_in_sets_a_strict_http_only_cookie(hub: Hub) -> None:
    tok = token(hub, Role.ADMIN)
    with client(hub) as c:
        r = c.post("/admin/sign-in", data=sign_in_form(c, tok), follow_redirects=False)
        assert r.status_code == 303
        cookie = _session_cookie(r)
        assert cookie.startswith(COOKIE + "=")
        attrs = {a.strip().lower() for a in cookie.split(";")}
        assert "httponly" in attrs
        assert "samesite=strict" in attrs
        assert "path=/admin" in attrs
        assert "secure" not in attrs  # plain HTTP here; TLS adds Secure
        assert tok not in cookie
        assert c.get("/admin").status_code == 200
    assert "console.sign_in" in _actions(hub)


def test_cookie_is_secure_over_tls(hub: Hub) -> None:
    tok = token(hub, Role.ADMIN)
    with client(hub) as c:
        c.base_url = c.base_url.copy_with(scheme="https")
        r = c.post("/admin/sign-in", data=sign_in_form(c, tok), follow_redirects=False)
        assert "secure" in {a.strip().lower() for a in _session_cookie(r).split(";")}


def test_wrong_token_is_refused_and_audited(hub: Hub) -> None:
    with client(hub) as c:
        r = c.post("/admin/sign-in", data=sign_in_form(c, "hub_wrong"))
        assert r.status_code == 401
        assert "unknown or revoked token" in r.text
        assert not any(v.startswith(COOKIE + "=") for v in r.headers.get_list("set-cookie"))
        feed = token(hub, Role.FEED)
        r = c.post("/admin/sign-in", data=sign_in_form(c, feed))
        assert r.status_code == 401
        assert "feed key" in r.text
    assert _actions(hub).count("console.sign_in_failed") == 2


def test_the_sign_in_form_has_its_own_csrf_token(hub: Hub) -> None:
    tok = token(hub, Role.ADMIN)
    with client(hub) as c:
        form = sign_in_form(c, tok)
        forged = c.post("/admin/sign-in", data={**form, "csrf": "x" * 43}, follow_redirects=False)
        assert forged.status_code == 403
        assert "did not come from this console" in forged.text
        assert not any(v.startswith(COOKIE + "=") for v in forged.headers.get_list("set-cookie"))
        c.cookies.clear()  # a cross-site post carries no sign-in cookie
        r = c.post("/admin/sign-in", data=form, follow_redirects=False)
        assert r.status_code == 403
    assert _actions(hub).count("console.denied") == 2


def test_sign_in_is_rate_limited_per_client(hub: Hub) -> None:
    tok = token(hub, Role.ADMIN)
    with client(hub) as c:
        for _ in range(5):
            assert c.post("/admin/sign-in", data=sign_in_form(c, "hub_guess")).status_code == 401
        r = c.post("/admin/sign-in", data=sign_in_form(c, tok))
        assert r.status_code == 429  # even the right token waits: the client is throttled
        assert int(r.headers["retry-after"]) >= 1


def test_forged_session_cookie_is_not_a_session(hub: Hub) -> None:
    tok = token(hub, Role.ADMIN)
    with client(hub) as c:
        sign_in(c, tok)
        value = c.cookies[COOKIE]
        body, _, mac = value.rpartition(".")
        forged = body + "." + ("0" if mac[0] != "0" else "1") + mac[1:]
        c.cookies.clear()
        c.cookies.set(COOKIE, forged, path="/admin")
        assert c.get("/admin", follow_redirects=False).status_code == 303
        other = SessionCodec(b"another secret").dumps(Session(1, "x", time.time() + 60))
        c.cookies.clear()
        c.cookies.set(COOKIE, other, path="/admin")
        assert c.get("/admin", follow_redirects=False).status_code == 303


def test_expired_session_sends_back_to_sign_in(hub: Hub) -> None:
    tok = token(hub, Role.ADMIN)
    with client(hub) as c:
        sign_in(c, tok)
        codec: SessionCodec = c.app.state.console_sessions  # type: ignore[attr-defined]
        stale = codec.dumps(Session(1, "csrf", time.time() - 1))
        c.cookies.clear()
        c.cookies.set(COOKIE, stale, path="/admin")
        r = c.get("/admin", follow_redirects=False)
        assert r.status_code == 303
        assert "reason=expired" in r.headers["location"]


def test_revoking_the_key_ends_its_session(hub: Hub) -> None:
    admin = token(hub, Role.ADMIN, name="a")
    token(hub, Role.ADMIN, name="b")
    with client(hub) as c:
        sign_in(c, admin)
        assert c.get("/admin").status_code == 200
        from hub.services.keys import KeyService

        service = KeyService(uow=hub.uow, clock=hub.clock)
        mine = next(k for k in service.list() if k.name == "a-admin")
        service.revoke(mine.id, actor=Actor.cli_user())
        r = c.get("/admin", follow_redirects=False)
        assert r.status_code == 303
        assert "reason=revoked" in r.headers["location"]


def test_forms_need_the_session_csrf_token(hub: Hub) -> None:
    tok = token(hub, Role.READER)
    with client(hub) as c:
        sign_in(c, tok)
        csrf = csrf_of(c)
        r = c.post("/admin/sign-out", data={"csrf": "forged"})
        assert r.status_code == 403
        assert "CSRF" in r.text
        r = c.post("/admin/sign-out", data={})
        assert r.status_code == 403
        assert c.get("/admin").status_code == 200  # still signed in
        r = c.post("/admin/sign-out", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/admin", follow_redirects=False).status_code == 303
    actions = _actions(hub)
    assert actions.count("console.denied") == 2
    assert "console.sign_out" in actions


def test_next_never_leaves_the_console(hub: Hub) -> None:
    tok = token(hub, Role.ADMIN)
    with client(hub) as c:
        for target in ("https://evil.example/", "//evil.example/admin", "/api/keys", "/\\evil"):
            r = c.post(
                "/admin/sign-in", data=sign_in_form(c, tok, next=target), follow_redirects=False
            )
            assert r.headers["location"] == "/admin", target


def test_pages_carry_a_strict_content_security_policy(hub: Hub) -> None:
    with client(hub) as c:
        r = c.get("/admin/sign-in")
        policy = r.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "https://" not in r.text and "http://" not in r.text  # nothing from a CDN
