"""Webhook deliveries through the delivery queue against a REAL HTTP receiver on loopback.

The receiver is a threaded ``http.server`` whose answers the test scripts: down (nothing
listens: connection refused), slow (past the destination's read timeout), 500, then 200. The
hub runs on a :class:`~hub.clock.FixedClock` and the test drives the worker one attempt at a
time, moving the clock past each backoff, so nothing depends on the machine's speed.

HTTP deliveries come from a test subscriber registered on the outbox (what the FHIR
subscriptions will do): it turns each appointment event into a JSON payload with its own
headers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import free_port

from hub.bootstrap import Hub
from hub.clock import FixedClock
from hub.config import Settings
from hub.pm.events import AppointmentBooked, DomainEvent
from hub.queue.outbox import EventContext, Fanout
from hub.services.deliver import DeliveryAdmin, OutboundPayload, enqueue
from hub.store import deliveries as dstore
from hub.store import messages as mstore
from hub.store.destinations import list_destinations
from hub.store.lifecycle import DeliveryStatus
from hub.store.outbox import emit
from hub.store.pm_tables import appointments, patients

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


class Receiver:
    """A webhook receiver answering from a script: ``slow``, or an HTTP status (then 200)."""

    def __init__(self, port: int, script: list[int | str]) -> None:
        self.script = list(script)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.release = threading.Event()  # ends a ``slow`` answer early at teardown
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                step = owner.script.pop(0) if owner.script else 200
                if step == "slow":
                    owner.release.wait(5)  # past the client's read timeout
                    step = 200
                self.send_response(int(step))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def webhook(event: DomainEvent, ctx: EventContext) -> Fanout:
    """A stand-in FHIR subscription: every appointment event to every http destination."""
    assert isinstance(event, AppointmentBooked)
    fan = Fanout()
    for dest in list_destinations(ctx.conn, kind="http"):
        body = json.dumps({"resourceType": "Appointment", "id": str(event.appointment_id)})

        def build(body: str = body) -> OutboundPayload:
            return OutboundPayload(
                protocol="fhir",
                raw=body.encode(),
                control_id=f"EV{ctx.outbox_id}",
                type="Appointment",
                headers={"X-Hub-Event": str(ctx.outbox_id)},
            )

        fan.delivery_ids.append(enqueue(dest, ctx, build))
    return fan


def make(
    make_hub: Callable[..., Hub], settings: Settings, port: int, **dest: Any
) -> tuple[Hub, FixedClock]:
    clock = FixedClock(T0)
    hub = make_hub(settings.model_copy(update={"delivery_backoff_max": 60.0}), clock=clock)
    hub.outbox.subscribe("test-webhook", webhook, event=AppointmentBooked)
    DeliveryAdmin(uow=hub.uow, clock=clock).add_destination(
        "hook",
        kind="http",
        address=f"http://127.0.0.1:{port}/hook",
        options={"headers": {"Authorization": "Bearer s3cret"}, "read_timeout": 0.3},
        actor="test",
        **dest,
    )
    return hub, clock


def book(hub: Hub) -> int:
    """A PM appointment and its event, committed together; the relay makes the delivery."""
    with hub.uow() as uow:
        pid = uow.conn.execute(
            sa.insert(patients)
            .values(
                facility="F", mrn="M1", birth_date=date(1980, 1, 2), created_at=T0, updated_at=T0
            )
            .returning(patients.c.id)
        ).scalar_one()
        aid = uow.conn.execute(
            sa.insert(appointments)
            .values(
                patient_id=pid, status="booked", start=T0, minutes=15, created_at=T0, updated_at=T0
            )
            .returning(appointments.c.id)
        ).scalar_one()
        emit(uow.conn, AppointmentBooked(int(aid)), now=T0)
        uow.commit()
    assert hub.outbox.run_until_idle() == 1
    with hub.uow() as uow:
        [rec] = dstore.search(uow.conn, destination="hook")
    return rec.id


def step(hub: Hub, clock: FixedClock, delivery_id: int) -> dstore.DeliveryRecord:
    """Move the clock to the delivery's next attempt and make exactly that attempt."""
    rec = get(hub, delivery_id)
    if rec.next_attempt_at is not None:
        clock.advance(max(0.0, (rec.next_attempt_at - clock.now()).total_seconds()))
    assert hub.deliveries is not None
    assert hub.deliveries.run_next("test") is not None
    return get(hub, delivery_id)


def get(hub: Hub, delivery_id: int) -> dstore.DeliveryRecord:
    with hub.uow() as uow:
        return dstore.get(uow.conn, delivery_id)


def attempts(hub: Hub, rec: dstore.DeliveryRecord) -> list[tuple[str, str | None]]:
    with hub.uow() as uow:
        rows = mstore.attempts_of(uow.conn, rec.message_id or 0)
    return [(a["outcome"], a["error_code"]) for a in rows if a["stage"] == "deliver"]


def test_down_then_slow_then_500_then_200_is_retried_each_time_then_delivered(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    port = free_port()  # nothing listens yet: connection refused
    hub, clock = make(make_hub, any_db_settings, port)
    did = book(hub)

    rec = step(hub, clock, did)
    assert (rec.status, rec.last_error_code) == (DeliveryStatus.RETRYING, "connect_failed")

    ehr = Receiver(port, ["slow", 500])
    receivers.append(ehr)
    rec = step(hub, clock, did)
    assert (rec.status, rec.last_error_code) == (DeliveryStatus.RETRYING, "timeout")
    rec = step(hub, clock, did)
    assert (rec.status, rec.last_error_code) == (DeliveryStatus.RETRYING, "http_500")
    rec = step(hub, clock, did)
    assert rec.status is DeliveryStatus.SENT and rec.sent_at is not None

    assert attempts(hub, rec) == [
        ("retry", "connect_failed"),
        ("retry", "timeout"),
        ("retry", "http_500"),
        ("ok", None),
    ]
    assert len(ehr.received) == 3  # the slow one arrived too: at least once, never lost
    headers, body = ehr.received[-1]
    assert json.loads(body)["resourceType"] == "Appointment"
    assert headers["authorization"] == "Bearer s3cret"  # the destination's header
    assert headers["x-hub-event"] == str(rec.outbox_id)  # the subscriber's header
    assert headers["content-type"] == "application/fhir+json"
    assert {b for _, b in ehr.received} == {body}  # every retry sends the same bytes


def test_a_short_horizon_dead_letters_and_a_4xx_fails_at_once(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    port = free_port()
    hub, clock = make(make_hub, any_db_settings, port, retry_horizon=30)
    ehr = Receiver(port, [503] * 50)
    receivers.append(ehr)
    did = book(hub)
    rec = step(hub, clock, did)
    assert rec.status is DeliveryStatus.RETRYING
    while rec.status is DeliveryStatus.RETRYING:
        assert (clock.now() - T0).total_seconds() <= 30  # never retried past the horizon
        rec = step(hub, clock, did)
    assert rec.status is DeliveryStatus.DEAD and rec.last_error_code == "http_503"
    assert rec.next_attempt_at is None
    outcomes = [o for o, _ in attempts(hub, rec)]
    assert outcomes[-1] == "dead" and set(outcomes[:-1]) == {"retry"}

    ehr.script = [422]  # the receiver refuses the payload: permanent, a human decides
    DeliveryAdmin(uow=hub.uow, clock=clock).retry(did, actor="test", reason="receiver fixed")
    rec = step(hub, clock, did)
    assert (rec.status, rec.last_error_code) == (DeliveryStatus.FAILED, "http_422")


def test_pause_stops_sends_and_resume_restarts_them(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    port = free_port()
    hub, _ = make(make_hub, any_db_settings, port)
    ehr = Receiver(port, [])
    receivers.append(ehr)
    admin = DeliveryAdmin(uow=hub.uow, clock=hub.clock)
    admin.pause("hook", actor="test")
    did = book(hub)  # queued while paused
    assert hub.deliveries is not None
    assert hub.deliveries.run_until_idle() == 0  # nothing leasable: deterministic, no sleep
    assert get(hub, did).status is DeliveryStatus.PENDING and ehr.received == []

    admin.resume("hook", actor="test")
    hub.start_background()  # the real delivery threads pick it up
    hub.deliveries.wake()
    deadline = threading.Event()
    for _ in range(500):
        if get(hub, did).status is DeliveryStatus.SENT:
            break
        deadline.wait(0.02)
    assert get(hub, did).status is DeliveryStatus.SENT
    assert len(ehr.received) == 1
