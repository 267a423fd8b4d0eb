"""The console's session cookie, sign-in limiter, charts and AuditEvent export, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.api.console.charts import Series, bar_chart
from hub.api.console.ratelimit import SignInLimiter
from hub.api.console.routes_auth import safe_next
from hub.api.console.session import Session, SessionCodec
from hub.services.audit_fhir import audit_event, bundle

NOW = 1_800_000_000.0


def test_session_round_trip_and_tampering() -> None:
    codec = SessionCodec(b"secret")
    value = codec.dumps(Session(7, "csrf-token", NOW + 60, (("ok", "saved"),)))
    assert "=" not in value and '"' not in value  # a plain cookie value
    assert codec.loads(value, now=NOW) == Session(7, "csrf-token", NOW + 60, (("ok", "saved"),))
    assert codec.loads(value, now=NOW + 61) is None  # expired
    assert SessionCodec(b"other").loads(value, now=NOW) is None
    body, _, mac = value.rpartition(".")
    assert codec.loads(body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac, now=NOW) is None
    for junk in ("", ".", "abc", "x" * 5000, "é.é", body + ".", "." + mac):
        assert codec.loads(junk, now=NOW) is None


def test_limiter_counts_failures_in_a_window() -> None:
    now = [0.0]
    limiter = SignInLimiter(failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4") == 0
        limiter.failed("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") == 60
    assert limiter.retry_after("5.6.7.8") == 0  # per client
    now[0] = 30
    assert limiter.retry_after("1.2.3.4") == 30
    now[0] = 61
    assert limiter.retry_after("1.2.3.4") == 0
    limiter.failed("1.2.3.4")
    limiter.succeeded("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") == 0


def test_next_stays_inside_the_console() -> None:
    assert safe_next("/admin/messages?status=failed") == "/admin/messages?status=failed"
    for bad in (
        "https://x.example/admin",
        "//x.example/admin",
        "/api/keys",
        "/\\x",
        "javascript:x",
    ):
        assert safe_next(bad) == "/admin"


def test_chart_escapes_labels_and_scales_bars() -> None:
    svg = str(bar_chart("t<>", ["<b>", "2"], [Series("s", [5, 10], "bar-received")]))
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert 'role="img"' in svg and "<title>t&lt;&gt;</title>" in svg
    assert svg.count("<rect") == 2


def test_audit_events_follow_the_balp_minimal_pattern() -> None:
    at = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    view = audit_event(
        {
            "id": 5,
            "seq": 5,
            "hash": "ab",
            "at": at,
            "actor": "key:3:ann",
            "action": "phi.view",
            "object_type": "message",
            "object_id": "42",
            "detail": {"via": "console"},
        }
    )
    assert view["resourceType"] == "AuditEvent"
    assert view["meta"]["profile"] == [
        "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read"
    ]
    assert (view["action"], view["outcome"], view["recorded"]) == ("R", "0", at.isoformat())
    assert view["agent"][0]["who"]["identifier"]["value"] == "key:3:ann"
    assert view["agent"][0]["requestor"] is True
    assert view["source"]["observer"] == {"display": "hub"}
    assert view["entity"][0]["what"]["identifier"]["value"] == "42"
    denied = audit_event(
        {"id": 6, "at": at, "actor": "a", "action": "console.denied", "object_type": ""}
    )
    assert denied["outcome"] == "4" and "entity" not in denied
    login = audit_event({"id": 7, "at": at, "actor": "a", "action": "console.sign_in"})
    assert login["type"]["code"] == "110114" and login["subtype"][0]["code"] == "110122"
    assert bundle([], at=at) == {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": at.isoformat(),
        "entry": [],
    }
