"""Outbound SIU to EHRs over real MLLP on loopback, on SQLite and on PostgreSQL.

The EHR is a small threaded MLLP receiver written here: it records what arrives and answers
with the project's own ACK builder (or with what a test tells it to: AE, a wrong MSA-2, a
dropped connection).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import free_port
from typer.testing import CliRunner

from hub.adapters.hl7v2.ack import build_ack
from hub.adapters.hl7v2.errors import error_for, location
from hub.adapters.hl7v2.tokenizer import Message, parse
from hub.adapters.transport.mllp import FrameDecoder, frame
from hub.bootstrap import Hub
from hub.cli import app
from hub.clock import FixedClock
from hub.config import Settings
from hub.services.appointments import AppointmentService, BookRequest
from hub.services.deliver import DeliveryAdmin
from hub.store import deliveries as dstore
from hub.store import messages as mstore
from hub.store.lifecycle import DeliveryStatus
from hub.store.pm_tables import appointments, patients

pytestmark = pytest.mark.integration

Answer = Callable[[Message], bytes | None]
START = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


def aa(msg: Message) -> bytes | None:
    return build_ack(msg, [], control_id="ACK" + msg.control_id[:10], now=START, code="AA")


def ae(msg: Message) -> bytes | None:
    err = error_for(101, "patient Testperson unknown here", location("PID", 3))
    return build_ack(msg, [err], control_id="ACK1", now=START, code="AE")


def wrong_msa2(msg: Message) -> bytes | None:
    return (
        b"MSH|^~\\&|EHRAPP|NORTHCLINIC|HUB|PM|20261122160000||ACK^S12^ACK|X1|P|2.5.1\r"
        b"MSA|AA|NOTYOURS0001\r"
    )


class Receiver:
    """An EHR's MLLP listener: one thread accepting, one per connection."""

    def __init__(self, port: int = 0, answer: Answer = aa) -> None:
        self.answer = answer
        self.received: list[Message] = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        decoder = FrameDecoder(1 << 20)
        conn.settimeout(0.1)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                for payload in decoder.feed(data):
                    msg = parse(payload)
                    with self._lock:
                        self.received.append(msg)
                    reply = self.answer(msg)
                    if reply is None:
                        return  # drop the connection without an ACK
                    conn.sendall(frame(reply))

    def control_ids(self) -> list[str]:
        with self._lock:
            return [m.control_id for m in self.received]

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for t in self._threads:
            t.join(timeout=2)


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """The CLI configures root logging; give pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


def fast(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(update={"delivery_backoff_max": 2.0, **extra})


def add_patient(hub: Hub, mrn: str = "MRN1001", facility: str = "NORTHCLINIC") -> None:
    now = datetime.now(UTC)
    with hub.uow() as uow:
        uow.conn.execute(
            sa.insert(patients).values(
                facility=facility,
                mrn=mrn,
                family_name="Testperson",
                given_name="Alex",
                birth_date=date(1980, 1, 2),
                sex="F",
                created_at=now,
                updated_at=now,
            )
        )
        uow.commit()


def add_dest(hub: Hub, name: str, port: int, facility: str = "NORTHCLINIC") -> None:
    DeliveryAdmin(uow=hub.uow, clock=hub.clock).add_destination(
        name,
        kind="mllp",
        address=f"127.0.0.1:{port}",
        facility=facility,
        application="EHRAPP",
        actor="test",
    )


def service(hub: Hub) -> AppointmentService:
    assert hub.deliveries is not None
    return AppointmentService(
        uow=hub.uow, clock=hub.clock, wake=hub.deliveries.wake, relay=hub.outbox.relay_through
    )


def book(hub: Hub, filler: str, *, channel: str | None = None, minutes: int = 30) -> list[int]:
    req = BookRequest(
        patient_mrn="MRN1001",
        patient_facility="NORTHCLINIC",
        start=START,
        minutes=minutes,
        provider="1234567893",
        location="ROOM2",
        type="FOLLOWUP",
        reason="knee pain",
        filler_id=filler,
    )
    return service(hub).book(req, channel=channel).delivery_ids


def delivery(hub: Hub, delivery_id: int) -> dstore.DeliveryRecord:
    with hub.uow() as uow:
        return dstore.get(uow.conn, delivery_id)


def deliver_attempts(hub: Hub, delivery_id: int) -> list[dict[str, Any]]:
    rec = delivery(hub, delivery_id)
    assert rec.message_id is not None
    with hub.uow() as uow:
        return [a for a in mstore.attempts_of(uow.conn, rec.message_id) if a["stage"] == "deliver"]


def status_is(hub: Hub, delivery_id: int, status: DeliveryStatus) -> bool:
    return delivery(hub, delivery_id).status is status


def started(make_hub: Callable[..., Hub], settings: Settings) -> Hub:
    hub = make_hub(settings)
    add_patient(hub)
    return hub


def test_siu_reaches_the_ehr_with_sch_and_pid(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    ehr = Receiver()
    receivers.append(ehr)
    hub = started(make_hub, fast(any_db_settings))
    add_dest(hub, "north", ehr.port)
    hub.start_background()

    [did] = book(hub, "APPT-1")
    wait_for(lambda: status_is(hub, did, DeliveryStatus.SENT))

    [msg] = ehr.received
    rec = delivery(hub, did)
    assert msg.type == "SIU^S12"
    assert msg.control_id == rec.control_id
    assert msg.get("MSH-5") == "EHRAPP" and msg.get("MSH-6") == "NORTHCLINIC"
    assert msg.get("SCH-2") == "APPT-1"
    assert msg.get("SCH-11.4") == "20261123143000+0000"
    assert msg.get("SCH-25") == "Booked"
    assert msg.get("PID-3.1") == "MRN1001" and msg.get("PID-3.4") == "NORTHCLINIC"
    assert msg.get("PID-5.1") == "Testperson"
    assert msg.get("AIP-3.1") == "1234567893" and msg.get("AIL-3.1") == "ROOM2"
    assert rec.sent_at is not None and rec.attempt_count == 1
    assert [a["outcome"] for a in deliver_attempts(hub, did)] == ["ok"]
    with hub.uow() as uow:
        out = mstore.get(uow.conn, rec.message_id or 0)
    assert out.direction == "out" and out.status.value == "processed"
    assert out.raw == msg.encode()  # the stored bytes are exactly what went out

    # reschedule and cancel follow in order, as S13 then S15
    svc = service(hub)
    [d2] = svc.reschedule("APPT-1", start=START + timedelta(hours=2), minutes=20).delivery_ids
    [d3] = svc.cancel("APPT-1", reason="patient called").delivery_ids
    wait_for(lambda: status_is(hub, d3, DeliveryStatus.SENT))
    assert status_is(hub, d2, DeliveryStatus.SENT)
    assert [m.type for m in ehr.received] == ["SIU^S12", "SIU^S13", "SIU^S15"]
    assert ehr.received[1].get("SCH-11.4") == "20261123163000+0000"
    assert ehr.received[1].get("SCH-9") == "20"
    assert ehr.received[2].get("SCH-25") == "Cancelled"
    with hub.uow() as uow:
        status = uow.conn.execute(
            sa.select(appointments.c.status).where(appointments.c.filler_id == "APPT-1")
        ).scalar_one()
    assert status == "cancelled"


def test_retried_while_the_ehr_is_down_then_sent(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    port = free_port()  # nothing listens here yet: connections are refused
    hub = started(make_hub, fast(any_db_settings))
    add_dest(hub, "north", port)
    hub.start_background()

    [did] = book(hub, "APPT-2")
    wait_for(lambda: len(deliver_attempts(hub, did)) >= 2, timeout=15)
    rec = delivery(hub, did)
    assert rec.status in (DeliveryStatus.RETRYING, DeliveryStatus.PENDING)
    done = [a for a in deliver_attempts(hub, did) if a["ended_at"] is not None]
    assert done[0]["outcome"] == "retry"
    assert done[0]["error_code"] == "connect_failed"
    assert "Testperson" not in (done[0]["error_text"] or "")
    retrying = wait_for(
        lambda: (r := delivery(hub, did)).status is DeliveryStatus.RETRYING and r, timeout=5
    )
    assert retrying.next_attempt_at is not None
    assert retrying.last_error_code == "connect_failed"

    ehr = Receiver(port)
    receivers.append(ehr)
    wait_for(lambda: status_is(hub, did, DeliveryStatus.SENT), timeout=15)
    assert ehr.control_ids() == [delivery(hub, did).control_id]
    outcomes = [a["outcome"] for a in deliver_attempts(hub, did)]
    assert outcomes[-1] == "ok" and set(outcomes[:-1]) == {"retry"}
    assert delivery(hub, did).next_attempt_at is None


def test_ae_fails_with_the_reason_and_cli_retry_sends_again(
    any_db_settings: Settings,
    make_hub: Callable[..., Hub],
    receivers: list[Receiver],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ehr = Receiver(answer=ae)
    receivers.append(ehr)
    settings = fast(any_db_settings)
    hub = started(make_hub, settings)
    add_dest(hub, "north", ehr.port)
    hub.start_background()

    with caplog.at_level(logging.DEBUG):
        [did] = book(hub, "APPT-3")
        wait_for(lambda: status_is(hub, did, DeliveryStatus.FAILED))
    rec = delivery(hub, did)
    assert rec.last_error_code == "ack_ae"
    assert "101 Required field missing at PID-3" in (rec.last_error or "")
    assert "Testperson" not in (rec.last_error or "")  # the EHR's free text is not kept
    assert "Testperson" not in caplog.text and "MRN1001" not in caplog.text
    assert [a["outcome"] for a in deliver_attempts(hub, did)] == ["failed"]
    time.sleep(0.3)
    assert len(ehr.received) == 1  # a rejection is not retried by itself

    ehr.answer = aa
    env = {"HUB_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["HUB_DATABASE_URL"] = settings.database_url
    result = CliRunner().invoke(
        app, ["deliveries", "retry", str(did), "--reason", "fixed"], env=env
    )
    assert result.exit_code == 0, result.output
    wait_for(lambda: status_is(hub, did, DeliveryStatus.SENT))
    assert ehr.control_ids() == [rec.control_id, rec.control_id]
    attempts = deliver_attempts(hub, did)
    assert [(a["number"], a["outcome"], a["replay"]) for a in attempts] == [
        (1, "failed", 0),
        (2, "ok", 1),
    ]
    listed = CliRunner().invoke(app, ["deliveries", "list", "--status", "sent", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert f'"id": {did}' in listed.output
    again = CliRunner().invoke(app, ["deliveries", "retry", str(did)], env=env)
    assert again.exit_code == 1  # a sent delivery is not re-sent by accident
    assert "only failed or dead deliveries can be retried" in str(again.exception)


def test_wrong_msa2_is_not_accepted_as_delivery(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    ehr = Receiver(answer=wrong_msa2)
    receivers.append(ehr)
    hub = started(make_hub, fast(any_db_settings))
    add_dest(hub, "north", ehr.port)
    hub.start_background()

    [did] = book(hub, "APPT-4")
    wait_for(lambda: len(ehr.received) >= 2)
    rec = delivery(hub, did)
    assert rec.status is not DeliveryStatus.SENT and rec.sent_at is None
    assert rec.last_error_code == "ack_mismatch"
    done = [a for a in deliver_attempts(hub, did) if a["ended_at"] is not None]
    assert done and {a["error_code"] for a in done} == {"ack_mismatch"}
    assert {a["outcome"] for a in done} == {"retry"}

    ehr.answer = aa  # the receiver is fixed: the retry is accepted
    wait_for(lambda: status_is(hub, did, DeliveryStatus.SENT))


def test_change_from_the_ehrs_own_channel_is_not_echoed_back(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    north, south = Receiver(), Receiver()
    receivers.extend([north, south])
    hub = started(make_hub, fast(any_db_settings))
    add_dest(hub, "north", north.port, facility="NORTHCLINIC")
    add_dest(hub, "south", south.port, facility="SOUTHCLINIC")
    hub.start_background()

    change = service(hub).book(
        BookRequest(
            patient_mrn="MRN1001",
            patient_facility="NORTHCLINIC",
            start=START,
            minutes=15,
            filler_id="APPT-5",
        ),
        channel="NORTHCLINIC",
    )
    assert change.skipped == ["north"] and len(change.delivery_ids) == 1
    wait_for(lambda: status_is(hub, change.delivery_ids[0], DeliveryStatus.SENT))
    assert [m.get("SCH-2") for m in south.received] == ["APPT-5"]
    time.sleep(0.3)
    assert north.received == []
    with hub.uow() as uow:
        assert [d.destination for d in dstore.search(uow.conn)] == ["south"]


def test_destination_order_holds_across_a_retry(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    dropped: list[str] = []

    def drop_first(msg: Message) -> bytes | None:
        if not dropped:
            dropped.append(msg.control_id)
            return None  # connection closed without an ACK: the sender must retry
        return aa(msg)

    ehr = Receiver(answer=drop_first)
    receivers.append(ehr)
    hub = started(
        make_hub, fast(any_db_settings, delivery_backoff_base=0.3, delivery_backoff_max=0.3)
    )
    add_dest(hub, "north", ehr.port)
    ids = [book(hub, f"APPT-6{n}")[0] for n in range(3)]  # queued before any worker runs
    hub.start_background()

    wait_for(lambda: all(status_is(hub, d, DeliveryStatus.SENT) for d in ids), timeout=15)
    sent = [delivery(hub, d).control_id for d in ids]
    # the first was dropped and retried; the later ones waited behind it
    assert ehr.control_ids() == [sent[0], *sent]
    assert [a["outcome"] for a in deliver_attempts(hub, ids[0])] == ["retry", "ok"]
    assert [m.get("SCH-2") for m in ehr.received[1:]] == ["APPT-60", "APPT-61", "APPT-62"]


def test_expired_lease_is_released_and_the_attempt_abandoned(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    ehr = Receiver()
    receivers.append(ehr)
    hub = started(make_hub, fast(any_db_settings))
    add_dest(hub, "north", ehr.port)
    [did] = book(hub, "APPT-7")
    now = datetime.now(UTC)
    with hub.uow() as uow:  # a worker takes the lease, then dies mid-send
        leased = dstore.lease(
            uow.conn, now=now, lease_until=now - timedelta(seconds=1), worker="gone"
        )
        uow.commit()
    assert leased is not None and leased.delivery.id == did
    assert hub.deliveries is not None
    assert hub.deliveries.sweep() == 1
    assert hub.deliveries.run_until_idle() == 1
    assert status_is(hub, did, DeliveryStatus.SENT)
    outcomes = [(a["worker"], a["outcome"]) for a in deliver_attempts(hub, did)]
    assert outcomes == [("gone", "abandoned"), ("inline", "ok")]
    assert len(ehr.received) == 1


def test_paused_destination_queues_and_waits(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    ehr = Receiver()
    receivers.append(ehr)
    hub = started(make_hub, fast(any_db_settings))
    add_dest(hub, "north", ehr.port)
    [did] = book(hub, "APPT-8")
    admin = DeliveryAdmin(uow=hub.uow, clock=hub.clock)
    admin.set_enabled("north", False)  # disable is pause's alias
    assert hub.deliveries is not None
    assert hub.deliveries.run_until_idle() == 0
    assert status_is(hub, did, DeliveryStatus.PENDING)
    # a paused destination still queues (in order) what happens meanwhile: nothing is lost
    [did2] = book(hub, "APPT-9")
    assert hub.deliveries.run_until_idle() == 0
    admin.set_enabled("north", True)
    assert hub.deliveries.run_until_idle() == 2
    assert status_is(hub, did, DeliveryStatus.SENT) and status_is(hub, did2, DeliveryStatus.SENT)
    assert [m.get("SCH-2") for m in ehr.received] == ["APPT-8", "APPT-9"]


def test_cli_destinations_appointments_and_deliveries(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    ehr = Receiver()
    receivers.append(ehr)
    settings = fast(any_db_settings)
    hub = started(make_hub, settings)
    env = {"HUB_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["HUB_DATABASE_URL"] = settings.database_url

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    run("destinations", "add", "north", "--mllp", f"127.0.0.1:{ehr.port}",
        "--facility", "NORTHCLINIC", "--application", "EHRAPP")  # fmt: skip
    run("destinations", "add", "old", "--mllp", "127.0.0.1:9")
    run("destinations", "disable", "old")
    listed = json.loads(run("destinations", "list", "--json"))
    assert [(d["name"], d["enabled"]) for d in listed] == [("north", True), ("old", False)]
    bad = CliRunner().invoke(app, ["destinations", "add", "x", "--mllp", "nohost"], env=env)
    assert bad.exit_code == 1
    assert "MLLP address must be HOST:PORT, got 'nohost'" in str(bad.exception)

    out = run("appointments", "book", "--patient", "MRN1001", "--facility", "NORTHCLINIC",
              "--start", "2026-11-23T09:30:00-05:00", "--minutes", "40", "--provider", "DRX",
              "--location", "ROOM2", "--type", "NEWPT", "--reason", "check-up")  # fmt: skip
    assert "queued for 2 destination(s)" in out  # the paused one queues too
    filler = out.split("filler id ", 1)[1].split(":", 1)[0]
    run("appointments", "reschedule", filler, "--start", "2026-11-24T10:00:00+00:00")
    run("appointments", "cancel", filler, "--reason", "weather")
    skipped = run("appointments", "book", "--patient", "MRN1001", "--facility", "NORTHCLINIC",
                  "--start", "2026-11-25T10:00:00+00:00", "--minutes", "10",
                  "--channel", "NORTHCLINIC")  # fmt: skip
    assert "queued for 1 destination(s)" in skipped and "not echoed to north" in skipped
    naive = CliRunner().invoke(app, ["appointments", "reschedule", filler, "--start",
                                     "2026-11-24T10:00:00"], env=env)  # fmt: skip
    assert naive.exit_code == 1
    assert "--start needs a UTC offset" in str(naive.exception)

    pending = json.loads(
        run("deliveries", "list", "--status", "pending", "--destination", "north", "--json")
    )
    assert [d["type"] for d in pending] == ["SIU^S15", "SIU^S13", "SIU^S12"]
    assert hub.deliveries is not None
    assert hub.deliveries.run_until_idle() == 3
    assert [m.type for m in ehr.received] == ["SIU^S12", "SIU^S13", "SIU^S15"]
    assert ehr.received[0].get("SCH-11.4") == "20261123143000+0000"  # stored and sent in UTC
    assert ehr.received[0].get("AIP-3.1") == "DRX"
    assert ehr.received[1].get("SCH-9") == "40"
    sent = json.loads(run("deliveries", "list", "--destination", "north", "--json"))
    assert {d["status"] for d in sent} == {"sent"}
    waiting = json.loads(run("deliveries", "list", "--destination", "old", "--json"))
    assert {d["status"] for d in waiting} == {"pending"} and len(waiting) == 4  # paused
    assert "sent" in run("deliveries", "list")


def test_dead_after_the_retry_horizon_then_retry_revives_it(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    port = free_port()
    clock = FixedClock(datetime.now(UTC))
    hub = make_hub(fast(any_db_settings), clock=clock)
    add_patient(hub)
    DeliveryAdmin(uow=hub.uow, clock=hub.clock).add_destination(
        "north", kind="mllp", address=f"127.0.0.1:{port}", retry_horizon=60, actor="test"
    )
    assert hub.deliveries is not None
    [did] = book(hub, "APPT-10")
    assert hub.deliveries.run_until_idle() == 1  # refused: retried (1 + backoff < 60 s)
    assert status_is(hub, did, DeliveryStatus.RETRYING)
    clock.advance(59)  # the next backoff (>= 1 s) would end past the 60 s horizon
    assert hub.deliveries.run_until_idle() == 1
    assert status_is(hub, did, DeliveryStatus.DEAD)
    assert [a["outcome"] for a in deliver_attempts(hub, did)] == ["retry", "dead"]
    assert delivery(hub, did).next_attempt_at is None
    hub.start_background()

    ehr = Receiver(port)
    receivers.append(ehr)
    revived = DeliveryAdmin(uow=hub.uow, clock=hub.clock).retry(did, actor="test", reason="up")
    assert revived["status"] == "pending" and revived["attempts"] == 0
    assert hub.deliveries is not None
    hub.deliveries.wake()
    wait_for(lambda: status_is(hub, did, DeliveryStatus.SENT))
    assert len(ehr.received) == 1


def test_concurrent_workers_send_each_delivery_once_in_lane_order(
    any_db_settings: Settings, make_hub: Callable[..., Hub], receivers: list[Receiver]
) -> None:
    north, south = Receiver(), Receiver()
    receivers.extend([north, south])
    hub = started(make_hub, fast(any_db_settings))
    add_dest(hub, "north", north.port, facility="NORTHCLINIC")
    add_dest(hub, "south", south.port, facility="SOUTHCLINIC")
    ids = [book(hub, f"APPT-2{n}") for n in range(6)]
    assert hub.deliveries is not None
    hub.deliveries.threads = 4  # more workers than lanes: the lanes must still hold
    hub.start_background()
    flat = [d for pair in ids for d in pair]
    wait_for(lambda: all(status_is(hub, d, DeliveryStatus.SENT) for d in flat), timeout=20)
    expected = [f"APPT-2{n}" for n in range(6)]
    assert [m.get("SCH-2") for m in north.received] == expected
    assert [m.get("SCH-2") for m in south.received] == expected
    assert all(len(deliver_attempts(hub, d)) == 1 for d in flat)
