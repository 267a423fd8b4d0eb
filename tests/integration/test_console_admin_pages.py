"""Dashboard, destinations, audit and keys pages on SQLite and PostgreSQL: figures from real
data, pause / resume / resend, the chain's verification and its FHIR export, keys created
(token shown once, never in the cookie) and revoked."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from console_support import csrf_of, sign_in, sign_in_form
from fastapi.testclient import TestClient
from support.hl7_messages import adt
from test_api_support import client, token

from hub.api.console.session import COOKIE
from hub.bootstrap import Hub
from hub.config import Settings
from hub.services.deliver import DeliveryAdmin
from hub.store import deliveries as delivery_store
from hub.store import messages as store
from hub.store.keys import Role
from hub.store.lifecycle import DeliveryStatus, Status
from hub.store.tables import deliveries

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(make_hub, any_db_settings: Settings) -> Hub:  # type: ignore[no-untyped-def]
    return make_hub(any_db_settings)


def receive(hub: Hub, raw: bytes) -> None:
    hub.receiver("hl7v2").receive(raw)
    while hub.pipeline.run_next("console-test") is not None:
        pass


def admin(hub: Hub, c: TestClient) -> str:
    sign_in(c, token(hub, Role.ADMIN, name="ann"))
    return csrf_of(c)


def figures(page: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'id="fig-([a-z0-9-]+)">(\d+)<', page)}


def test_dashboard_counts_queue_and_chart(hub: Hub) -> None:
    receive(hub, adt("D1", trigger="A04", mrn="M1"))
    receive(hub, adt("D2", trigger="A08", mrn="M1", dob="19801345"))
    receive(hub, adt("D3", trigger="A08", mrn="M2", dob="19801345"))
    hub.receiver("hl7v2").receive(adt("D4", trigger="A04", mrn="M3"))  # left queued
    with hub.uow() as u:  # an old message outside the 24 hours
        store.insert(
            u.conn,
            store.NewMessage(
                protocol="hl7v2",
                raw=b"MSH|old",
                sha256="0" * 64,
                status=Status.DEAD,
                received_at=hub.clock.now() - timedelta(days=3),
                type="ADT^A04",
            ),
        )
        u.commit()
    with client(hub) as c:
        admin(hub, c)
        page = c.get("/admin").text
    assert figures(page) == {
        "total": 4,  # the last 24 hours: not the old dead one
        "24h-failed": 2,
        "24h-processed": 1,
        "24h-received": 1,
        "failed": 2,
        "held": 0,
        "dead": 1,  # all time: the old one
    }
    assert re.search(r"<td>hl7v2</td><td>EHRX\|NORTHCLINIC</td><td class=\"num\">1</td>", page)
    assert "<svg" in page and 'role="img"' in page
    hour = hub.clock.now().strftime("%H:00")
    row = re.search(
        rf'<tr><td>{hour}</td><td class="num">(\d+)</td><td class="num">(\d+)</td>', page
    )
    assert row is not None and row.groups() == ("4", "2")
    assert "Replay all failed" in page


def test_destinations_pause_resume_and_resend(hub: Hub) -> None:
    admin_service = DeliveryAdmin(uow=hub.uow, clock=hub.clock)
    admin_service.add_destination("ehr-out", kind="mllp", address="127.0.0.1:9")
    admin_service.add_destination("payer-hook", kind="http", address="http://127.0.0.1:9/hook")
    admin_service.add_destination("clearinghouse", kind="file", address="/tmp/ch-out")
    now = hub.clock.now()
    dest = next(d for d in admin_service.destinations() if d["name"] == "ehr-out")
    with hub.uow() as u:
        out = store.insert(
            u.conn,
            store.NewMessage(
                protocol="hl7v2",
                raw=b"MSH|out",
                sha256="1" * 64,
                status=Status.PROCESSED,
                received_at=now,
                direction="out",
                type="SIU^S12",
            ),
        )
        delivery = delivery_store.create(
            u.conn, destination_id=int(dest["id"]), message_id=out, control_id="X1", now=now
        )
        u.conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == delivery)
            .values(status="dead", last_error="[refused] connection refused")
        )
        u.commit()
    with client(hub) as c:
        csrf = admin(hub, c)
        page = c.get("/admin/destinations").text
        for label in ("MLLP", "Webhook (HTTP)", "Clearinghouse (files)"):
            assert label in page
        assert "connection refused" in page
        r = c.post("/admin/destinations/ehr-out/pause", data={"csrf": csrf})
        assert "Destination ehr-out paused." in r.text
        assert "Resume ehr-out" in r.text
        r = c.post("/admin/destinations/ehr-out/resume", data={"csrf": csrf})
        assert "Pause ehr-out" in r.text
        r = c.post(f"/admin/deliveries/{delivery}/resend", data={"csrf": csrf, "reason": "up"})
        assert f"Delivery {delivery} will be sent again." in r.text
        again = c.post(f"/admin/deliveries/{delivery}/resend", data={"csrf": csrf})
        assert again.status_code == 409
        missing = c.post("/admin/destinations/nope/pause", data={"csrf": csrf})
        assert missing.status_code == 404
    with hub.uow() as u:
        assert delivery_store.get(u.conn, delivery).status is DeliveryStatus.PENDING


def test_audit_page_verifies_filters_and_exports(hub: Hub) -> None:
    receive(hub, adt("E1", trigger="A04", mrn="M9"))
    with client(hub) as c:
        admin(hub, c)
        c.get("/admin/messages/1")  # a PHI view to find again
        page = c.get("/admin/audit", params={"action": "phi.view"}).text
        assert 'id="verify-result">Intact' in page
        assert page.count("<td>phi.view</td>") == 1
        assert 'href="/admin/messages/1">message 1</a>' in page
        by_patient = c.get("/admin/audit", params={"patient": "M9"}).text
        assert "<td>message.received</td>" in by_patient
        bad = c.get("/admin/audit", params={"message_id": "x", "since": "soon"}).text
        assert "message id: a positive whole number" in bad
        export = c.get("/admin/audit/export", params={"action": "phi.view"})
        assert export.headers["content-type"] == "application/fhir+json"
        assert "attachment" in export.headers["content-disposition"]
        entries = export.json()["entry"]
        assert len(entries) == 1
        event = entries[0]["resource"]
        assert event["resourceType"] == "AuditEvent"
        assert event["entity"][0]["what"]["identifier"]["value"] == "1"
        assert "M9" not in export.text  # no identifier leaves in the export


def test_keys_are_created_once_and_revoked(hub: Hub) -> None:
    with client(hub) as c:
        csrf = admin(hub, c)
        r = c.post("/admin/keys", data={"csrf": csrf, "name": "bob", "role": "reader"})
        created = re.search(r'<code id="new-token">([^<]+)</code>', r.text)
        assert created is not None
        new_token = created.group(1)
        assert new_token not in r.headers.get("set-cookie", "")
        assert new_token not in c.get("/admin/keys").text  # shown once
        bad = c.post("/admin/keys", data={"csrf": csrf, "name": "x", "role": "root"})
        assert bad.status_code == 422 and "unknown role" in bad.text
        key_id = re.findall(r'action="/admin/keys/(\d+)/revoke"', c.get("/admin/keys").text)[-1]
        r = c.post(f"/admin/keys/{key_id}/revoke", data={"csrf": csrf, "reason": "left"})
        assert f"Key {key_id} revoked." in r.text
        with client(hub) as other:
            refused = other.post("/admin/sign-in", data=sign_in_form(other, new_token))
            assert refused.status_code == 401
        assert c.cookies.get(COOKIE)
