"""FHIR rest-hook Subscriptions (issue 11 item 7) against a real receiver on loopback: an ADT
that creates a matching patient is POSTed with a valid HMAC signature (checked with the
receiver recipe of docs/fhir-subscriptions.md); a non-matching one is not; while the receiver
is down the delivery is retried and arrives when it comes back; create/read/search/delete and
bad Subscriptions answer as FHIR says."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import HubFactory, free_port
from fastapi.testclient import TestClient
from fhir_read_support import adt_full, send_hl7
from test_api_support import bearer, token

from hub.adapters.fhir import formats
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.config import Settings
from hub.services.fhir_subscriptions import SECRET_URL, Matcher
from hub.store import deliveries as delivery_store
from hub.store.keys import Role
from hub.store.lifecycle import DeliveryStatus

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "fhir-subscriptions.md"


def recipe() -> Any:
    """The ``verify`` function exactly as the receiver documentation prints it."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    return namespace["verify"]


class Receiver:
    """An HTTP receiver on loopback that records each POST (headers, raw body)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.got: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                got.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    r.start()
    yield r
    if r.server is not None:
        r.stop()


@pytest.fixture
def hub(make_hub: HubFactory, any_db_settings: Settings) -> Hub:
    return make_hub(any_db_settings)


@pytest.fixture
def api(hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub)) as c:
        c.headers.update(bearer(token(hub, Role.ADMIN)))
        yield c


def subscribe(api: TestClient, port: int, criteria: str = "Patient?family=Doe") -> dict[str, Any]:
    r = api.post(
        "/fhir/Subscription",
        json={
            "resourceType": "Subscription",
            "status": "requested",
            "reason": "test",
            "criteria": criteria,
            "channel": {
                "type": "rest-hook",
                "endpoint": f"http://127.0.0.1:{port}/hook",
                "payload": "application/fhir+json",
                "header": ["Authorization: Bearer receiver-token"],
            },
        },
        headers={"Content-Type": "application/fhir+json"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"/fhir/Subscription/{r.json()['id']}")
    body: dict[str, Any] = r.json()
    return body


def secret_of(sub: dict[str, Any]) -> str:
    return str(next(e["valueString"] for e in sub["extension"] if e["url"] == SECRET_URL))


def pump(hub: Hub) -> None:
    """What ``hub serve`` does in the background: match changes, relay, deliver."""
    Matcher(uow=hub.uow, clock=hub.clock).run_until_idle()
    assert hub.deliveries is not None
    hub.deliveries.run_until_idle()


def test_matching_adt_reaches_the_receiver_signed(
    hub: Hub, api: TestClient, receiver: Receiver
) -> None:
    sub = subscribe(api, receiver.port)
    assert sub["status"] == "active"
    secret = secret_of(sub)
    send_hl7(hub, adt_full("A1", "M1", family="Doe"))
    send_hl7(hub, adt_full("A2", "M2", family="Smith", visit="V2"))
    pump(hub)
    headers, body = receiver.got.get(timeout=10)
    assert receiver.got.empty()  # Smith does not match
    nid = recipe()(secret, headers["x-hub-signature"], body)
    assert nid == headers["x-hub-notification-id"]
    assert headers["authorization"] == "Bearer receiver-token"
    assert headers["content-type"] == "application/fhir+json"
    patient = formats.parse_json(body)
    assert patient["resourceType"] == "Patient"
    assert patient["name"][0]["family"] == "Doe"
    with pytest.raises(ValueError, match="bad signature"):
        recipe()(secret, headers["x-hub-signature"], body.replace(b"Doe", b"Dae"))
    with pytest.raises(ValueError, match="bad signature"):
        recipe()("x" * 40, headers["x-hub-signature"], body)


def test_retried_while_the_receiver_is_down_then_delivered(
    hub: Hub, api: TestClient, receiver: Receiver
) -> None:
    secret = secret_of(subscribe(api, receiver.port))
    receiver.stop()
    send_hl7(hub, adt_full("A1", "M1", family="Doe"))
    pump(hub)
    with hub.uow() as uow:
        (delivery,) = delivery_store.search(uow.conn, limit=10)
    assert delivery.status is DeliveryStatus.RETRYING
    assert delivery.last_error_code == "connect_failed"
    receiver.start()  # back, on the same port
    deadline = time.monotonic() + 30
    while receiver.got.empty() and time.monotonic() < deadline:
        pump(hub)
        time.sleep(0.2)
    headers, body = receiver.got.get(timeout=1)
    recipe()(secret, headers["x-hub-signature"], body)
    with hub.uow() as uow:
        (delivery,) = delivery_store.search(uow.conn, limit=10)
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.attempt_count >= 2


def test_read_search_delete_and_no_secret_on_read(
    hub: Hub, api: TestClient, receiver: Receiver
) -> None:
    sub = subscribe(api, receiver.port)
    read = api.get(f"/fhir/Subscription/{sub['id']}").json()
    assert read["criteria"] == "Patient?family=Doe" and "extension" not in read
    found = api.get("/fhir/Subscription?status=active").json()
    assert [e["resource"]["id"] for e in found["entry"]] == [sub["id"]]
    assert api.delete(f"/fhir/Subscription/{sub['id']}").status_code == 204
    assert api.get(f"/fhir/Subscription/{sub['id']}").status_code == 404
    send_hl7(hub, adt_full("A1", "M1", family="Doe"))
    pump(hub)
    assert receiver.got.empty()


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        ({"criteria": "Nonsense?x=1"}, "Subscription.criteria"),
        ({"criteria": "Patient?address-city=Springfield"}, "Subscription.criteria"),
        ({"criteria": None}, "Subscription.criteria"),
        ({"channel": {"type": "websocket"}}, "Subscription.channel.type"),
        (
            {"channel": {"type": "rest-hook", "endpoint": "file:///etc/passwd"}},
            "Subscription.channel.endpoint",
        ),
        (
            {"channel": {"type": "rest-hook", "endpoint": "http://x/", "header": ["bad"]}},
            "Subscription.channel.header[0]",
        ),
        ({"extension": [{"url": SECRET_URL, "valueString": "short"}]}, "Subscription.extension"),
        ({"end": "2001-01-01T00:00:00Z"}, "Subscription.end"),
        ({"reason": None}, "Subscription.reason"),
        ({"unknownElement": 1}, "Subscription.unknownElement"),
    ],
)
def test_bad_subscriptions_are_refused_with_the_element_named(
    api: TestClient, change: dict[str, Any], expression: str
) -> None:
    sub = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "t",
        "criteria": "Patient?family=Doe",
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook"},
        **change,
    }
    r = api.post(
        "/fhir/Subscription",
        content=json.dumps(sub),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert r.status_code == 400, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [expression]


def test_reader_may_not_subscribe(hub: Hub, api: TestClient) -> None:
    r = api.post(
        "/fhir/Subscription",
        json={"resourceType": "Subscription"},
        headers={**bearer(token(hub, Role.READER, "r")), "Content-Type": "application/fhir+json"},
    )
    assert r.status_code == 403
    assert r.json()["resourceType"] == "OperationOutcome"


def test_signature_is_hmac_sha256_over_timestamp_id_and_body() -> None:
    from hub.services.fhir_subscriptions import sign

    header = sign("k" * 32, 1700000000, "abc", b"{}")
    expected = hmac.new(b"k" * 32, b"1700000000.abc.{}", hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,id=abc,v1={expected}"


def test_hub_serve_runs_the_matcher_as_a_listener(
    hub: Hub, api: TestClient, receiver: Receiver
) -> None:
    """The FHIR plug-in's listener (what ``hub serve`` runs) announces changes by itself."""
    import asyncio

    subscribe(api, receiver.port)
    send_hl7(hub, adt_full("A1", "M1", family="Doe"))
    listeners = [f for f in hub.protocols["fhir"].listeners if f.__name__ == "match_changes"]
    assert len(listeners) == 1

    async def run_until_announced() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(listeners[0](stop))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert hub.deliveries is not None
            if await asyncio.to_thread(hub.deliveries.run_until_idle):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await task

    asyncio.run(run_until_announced())
    headers, _ = receiver.got.get(timeout=5)
    assert headers["x-hub-subscription"]


def test_a_future_end_is_kept(api: TestClient) -> None:
    r = api.post(
        "/fhir/Subscription",
        json={
            "resourceType": "Subscription",
            "status": "requested",
            "reason": "until the end",
            "end": "2999-01-01T00:00:00Z",
            "criteria": "Encounter?status=finished",
            "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook"},
        },
        headers={"Content-Type": "application/fhir+json"},
    )
    assert r.status_code == 201, r.text
    read = api.get(f"/fhir/Subscription/{r.json()['id']}").json()
    assert (read["end"], read["status"]) == ("2999-01-01T00:00:00Z", "active")


def test_changes_before_the_subscription_are_not_announced(
    hub: Hub, api: TestClient, receiver: Receiver
) -> None:
    send_hl7(hub, adt_full("A1", "M1", family="Doe"))  # before: not news to the subscriber
    subscribe(api, receiver.port)
    send_hl7(hub, adt_full("A2", "M2", family="Doe", visit="V2"))
    pump(hub)
    _, body = receiver.got.get(timeout=10)
    mrns = {i["value"] for i in formats.parse_json(body)["identifier"]}
    assert "M2" in mrns and "M1" not in mrns
    assert receiver.got.empty()  # and M1 did not follow
