"""Admin API: search, detail (audited PHI view), replay one / edited / by filter, problem JSON."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import APIRouter
from test_api_support import bearer, client, ingest, plugin, process_all, token

from hub.bootstrap import Hub
from hub.clock import SystemClock
from hub.config import Settings
from hub.store import audit
from hub.store.keys import Role


@pytest.fixture
def hub(make_hub, tmp_path: Path) -> Hub:  # type: ignore[no-untyped-def]
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[plugin])
    ingest(hub, "EHR1", "C1", "ADT^A01", "MRN100")
    ingest(hub, "EHR1", "C2", "ADT^A08", "MRN100", body="PERM")
    ingest(hub, "EHR2", "C3", "SIU^S12", "MRN200")
    process_all(hub)
    ingest(hub, "EHR2", "C4", "SIU^S12", "MRN300")  # left received (pending)
    return hub


@pytest.fixture
def admin(hub: Hub) -> dict[str, str]:
    return bearer(token(hub, Role.ADMIN))


def _ids(r) -> list[int]:  # type: ignore[no-untyped-def]
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["items"]]


def test_list_filters_and_pages(hub: Hub, admin: dict[str, str]) -> None:
    with client(hub) as c:
        get = lambda **q: c.get("/api/messages", params=q, headers=admin)  # noqa: E731
        assert _ids(get()) == [4, 3, 2, 1]  # newest first
        assert _ids(get(status="failed")) == [2]
        assert _ids(get(status="received")) == [4]
        assert _ids(get(type="SIU^S12")) == [4, 3]
        assert _ids(get(sender="EHR1")) == [2, 1]
        assert _ids(get(patient="MRN100")) == [2, 1]
        assert _ids(get(limit=2)) == [4, 3]
        assert _ids(get(limit=2, offset=2)) == [2, 1]
        now = SystemClock().now()
        assert _ids(get(since=(now - timedelta(hours=1)).isoformat())) == [4, 3, 2, 1]
        assert _ids(get(until=(now - timedelta(hours=1)).isoformat())) == []
        item = get(status="processed").json()["items"][0]
        for key in ("id", "status", "type", "sender", "control_id", "received_at"):
            assert key in item
        assert "raw" not in item
        bad = get(status="bogus")
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["code"] == "bad_status"


def test_detail_with_attempts_is_audited(hub: Hub) -> None:
    reader = bearer(token(hub, Role.READER, "alice"))
    with client(hub) as c:
        r = c.get("/api/messages/2", headers=reader)
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "failed" and body["error_code"] == "required"
        assert [a["outcome"] for a in body["attempt_log"]] == ["failed"]
        assert "PERM" in body["raw"]
        missing = c.get("/api/messages/999", headers=reader)
        assert missing.status_code == 404
        assert missing.json()["status"] == 404
    with hub.uow() as uow:
        views = audit.recent(uow.conn, object_type="message", object_id="2")
    assert views[0]["action"] == "phi.view"
    assert "alice" in views[0]["actor"]


def test_replay_plain_edited_and_pending(hub: Hub, admin: dict[str, str]) -> None:
    with client(hub) as c:
        r = c.post("/api/messages/1/replay", json={"reason": "test"}, headers=admin)
        assert r.status_code == 200 and r.json()["replayed"] == [1]
        assert c.get("/api/messages/1", headers=admin).json()["status"] == "received"
        process_all(hub)
        detail = c.get("/api/messages/1", headers=admin).json()
        assert detail["status"] == "processed"
        assert [a["replay"] for a in detail["attempt_log"]] == [False, True]
        edited = "X|EHR1|C2|ADT^A08|MRN100|fixed"
        r = c.post("/api/messages/2/replay", json={"raw": edited}, headers=admin)
        assert r.status_code == 200
        new_id = r.json()["replayed"][0]
        process_all(hub)
        rev = c.get(f"/api/messages/{new_id}", headers=admin).json()
        assert rev["revision_of"] == 2 and rev["status"] == "processed"
        waiting = ingest(hub, "EHR3", "C9", "ADT^A01", "MRN900")
        pending = c.post(f"/api/messages/{waiting}/replay", headers=admin)
        assert pending.status_code == 409 and pending.json()["code"] == "not_replayable"
    with hub.uow() as uow:
        actions = {e["action"] for e in audit.recent(uow.conn, limit=500)}
    assert {"message.replay", "message.edit", "message.received", "message.processed"} <= actions


def test_replay_by_filter(hub: Hub, admin: dict[str, str]) -> None:
    with client(hub) as c:
        empty = c.post("/api/replay", json={}, headers=admin)
        assert empty.status_code == 422 and empty.json()["code"] == "filter_required"
        dry = c.post("/api/replay", json={"sender": "EHR2", "dry_run": True}, headers=admin)
        assert dry.json()["would_replay"] == [3]
        assert dry.json()["skipped"] == [{"id": 4, "reason": "status is received"}]
        assert c.get("/api/messages/3", headers=admin).json()["status"] == "processed"
        real = c.post("/api/replay", json={"type": "ADT^A01"}, headers=admin)
        assert real.json()["replayed"] == [1]
        assert c.get("/api/messages/1", headers=admin).json()["status"] == "received"


def test_unexpected_error_is_problem_json_with_incident(hub: Hub, admin: dict[str, str]) -> None:
    secret = "Synthetic O'Testperson MRN777"
    with client(hub, raise_server_exceptions=False) as c:
        boom = APIRouter()

        @boom.get("/api/boom")
        def _boom() -> None:
            raise RuntimeError(f"exploded on {secret}")

        c.app.include_router(boom)  # type: ignore[attr-defined]
        r = c.get("/api/boom", headers=admin)
    assert r.status_code == 500
    body = r.json()
    assert body["status"] == 500 and len(body["incident"]) == 12
    assert "Traceback" not in r.text and secret not in r.text and "RuntimeError" not in r.text
