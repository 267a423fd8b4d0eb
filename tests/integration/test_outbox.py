"""The outbox: a PM change and its domain event commit together, and the relay makes exactly
one delivery per destination for each event, however often it runs (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from support.waiting import wait_until

from hub.bootstrap import Hub
from hub.config import Settings
from hub.errors import HubError, TransientError
from hub.pm.events import AppointmentRescheduled
from hub.queue.outbox import EventContext, Fanout
from hub.services import appointments as appointments_service
from hub.services.appointments import AppointmentService, BookRequest
from hub.services.deliver import DeliveryAdmin
from hub.store import outbox as obox
from hub.store.deliveries import of_event
from hub.store.pm_tables import appointments, patients
from hub.store.tables import deliveries, messages, outbox

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def setup(make_hub: Callable[..., Hub], settings: Settings) -> Hub:
    hub = make_hub(settings)
    with hub.uow() as uow:
        uow.conn.execute(
            sa.insert(patients).values(
                facility="NORTHCLINIC", mrn="MRN1", birth_date=date(1980, 1, 2),
                created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        uow.commit()
    admin = DeliveryAdmin(uow=hub.uow, clock=hub.clock)
    for name in ("north", "south"):
        admin.add_destination(name, kind="mllp", address="127.0.0.1:9", actor="test")
    return hub


def request(filler: str, minutes: int = 30) -> BookRequest:
    return BookRequest("MRN1", "NORTHCLINIC", NOW, minutes, filler_id=filler)


def book_events(hub: Hub, prefix: str, n: int) -> list[int]:
    """Book ``n`` appointments (fillers ``prefix0``...); the outbox ids of their events."""
    service = AppointmentService(uow=hub.uow, clock=hub.clock)
    for i in range(n):
        service.book(request(f"{prefix}{i}"))
    with hub.uow() as uow:
        return list(uow.conn.execute(sa.select(outbox.c.id).order_by(outbox.c.id)).scalars())


def count(hub: Hub, table: sa.Table) -> int:
    with hub.uow() as uow:
        return int(uow.conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def per_destination(hub: Hub) -> list[tuple[int, int]]:
    with hub.uow() as uow:
        rows = uow.conn.execute(
            sa.select(deliveries.c.outbox_id, deliveries.c.destination_id).order_by(deliveries.c.id)
        ).all()
    return [(int(r[0]), int(r[1])) for r in rows]


def test_a_pm_change_and_its_event_commit_together(
    any_db_settings: Settings, make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = setup(make_hub, any_db_settings)
    service = AppointmentService(uow=hub.uow, clock=hub.clock)  # no relay: the event waits
    change = service.book(request("A1"))
    with hub.uow() as uow:
        [row] = uow.conn.execute(sa.select(outbox)).all()
    assert row.event == "AppointmentBooked" and row.status == "pending"
    assert row.payload == {"appointment_id": change.appointment_id, "origin": None}

    # a change that fails after its event was written leaves neither behind
    with pytest.raises(HubError):
        service.book(request("A2", minutes=0))  # rejected before anything is written
    boom = RuntimeError("crash after emit")
    with pytest.raises(RuntimeError), hub.uow() as uow:
        uow.conn.execute(
            sa.update(appointments).values(minutes=99).where(appointments.c.filler_id == "A1")
        )
        obox.emit(uow.conn, AppointmentRescheduled(change.appointment_id), now=NOW)
        raise boom  # never committed: the unit of work rolls back
    assert count(hub, outbox) == 1
    with hub.uow() as uow:
        assert uow.conn.execute(sa.select(appointments.c.minutes)).scalar_one() == 30

    # the service's own path: the audit write after the emit fails, so nothing commits
    def audit_down(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr(appointments_service.audit, "append", audit_down)
    with pytest.raises(RuntimeError):
        service.cancel("A1")
    monkeypatch.undo()
    assert count(hub, outbox) == 1
    with hub.uow() as uow:
        assert uow.conn.execute(sa.select(appointments.c.status)).scalar_one() == "booked"
    service.cancel("A1")
    with hub.uow() as uow:
        events = uow.conn.execute(sa.select(outbox.c.event).order_by(outbox.c.id)).scalars()
        assert list(events) == ["AppointmentBooked", "AppointmentCancelled"]


def test_the_relay_makes_one_delivery_per_destination_even_run_twice(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    hub = setup(make_hub, any_db_settings)
    service = AppointmentService(uow=hub.uow, clock=hub.clock)
    change = service.book(request("B1"))
    assert hub.outbox.run_until_idle() == 1
    assert hub.outbox.run_until_idle() == 0  # relayed: nothing left
    first = per_destination(hub)
    assert len(first) == 2 and len({d for _, d in first}) == 2
    outbound = count(hub, messages)

    # at least once: the same event relayed again (a relay that lost its mark) adds nothing
    with hub.uow() as uow:
        [oid] = uow.conn.execute(sa.select(outbox.c.id)).scalars().all()
        obox.requeue(uow.conn, oid)
        uow.commit()
    assert hub.outbox.run_until_idle() == 1
    assert per_destination(hub) == first
    with hub.uow() as uow:
        assert obox.get(uow.conn, oid).status == "relayed"  # not failed on a duplicate
    assert count(hub, messages) == outbound  # no orphan outbound message built either
    fan = hub.outbox.relay_through(oid)
    assert sorted(fan.delivery_ids) == sorted(dstore_ids(hub, oid)) and change.appointment_id > 0


def dstore_ids(hub: Hub, outbox_id: int) -> list[int]:

    with hub.uow() as uow:
        return of_event(uow.conn, outbox_id)


def test_concurrent_relays_never_make_a_delivery_twice(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    hub = setup(make_hub, any_db_settings)
    service = AppointmentService(uow=hub.uow, clock=hub.clock)
    for n in range(10):
        service.book(request(f"C{n}"))
    errors: list[BaseException] = []

    def relay() -> None:
        try:
            hub.outbox.run_until_idle()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    pairs = per_destination(hub)
    assert len(pairs) == 20 and len(set(pairs)) == 20
    with hub.uow() as uow:
        statuses = set(uow.conn.execute(sa.select(outbox.c.status)).scalars())
    assert statuses == {"relayed"}


def test_relay_through_waits_for_a_relayer_holding_the_event(
    pg_url: str, tmp_path: object, make_hub: Callable[..., Hub]
) -> None:
    """A service reporting its deliveries must not read "none" while the background relay
    (holding the event under FOR UPDATE SKIP LOCKED) is fanning it out: seen as an S13 with no
    delivery ids in test_outbound_siu on PostgreSQL."""
    hub = setup(make_hub, Settings(database_url=pg_url, data_dir=tmp_path / "var"))  # type: ignore[operator]
    change = AppointmentService(uow=hub.uow, clock=hub.clock).book(request("A1"))
    with hub.uow() as uow:
        [oid] = uow.conn.execute(sa.select(outbox.c.id)).scalars().all()
    assert change.delivery_ids == []  # no relay given: the event waits

    held, release, reported = threading.Event(), threading.Event(), []

    def background_relay() -> None:  # what the delivery thread does, paused before its commit
        with hub.uow() as uow:
            row = obox.lease_next(uow.conn, NOW)
            assert row is not None and row.id == oid
            fan = hub.outbox._fan_out(uow.conn, row.event, row.payload, row.id, NOW)
            obox.mark_relayed(
                uow.conn, row.id, now=NOW,
                result={"deliveries": fan.delivery_ids, "skipped": fan.skipped},
            )  # fmt: skip
            held.set()
            release.wait(30)
            uow.commit()

    relayer = threading.Thread(target=background_relay)
    relayer.start()
    assert held.wait(30)
    caller = threading.Thread(target=lambda: reported.append(hub.outbox.relay_through(oid)))
    caller.start()
    blocked = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )

    def caller_blocked() -> bool:  # a fresh connection each time: the view is per transaction
        with hub.engine.connect() as conn:
            return bool(conn.execute(blocked).scalar())

    # the caller is provably waiting on the relayer's lock before the relayer commits
    assert wait_until(caller_blocked, what="relay_through waiting on the relayer's lock")
    release.set()
    relayer.join(30)
    caller.join(30)
    [fan] = reported
    assert len(fan.delivery_ids) == 2 and per_destination(hub) == [
        (oid, d) for _, d in per_destination(hub)
    ]


@pytest.mark.parametrize("transient", [False, True], ids=["permanent", "transient"])
def test_an_event_that_fails_in_a_batch_fails_alone_and_nothing_overtakes_it(
    any_db_settings: Settings, make_hub: Callable[..., Hub], transient: bool
) -> None:
    """Events are relayed many to a transaction, each in its own savepoint: the one whose
    subscriber raises leaves no delivery behind, the ones before it keep theirs, and it is
    then recorded as one relayed alone would be: a permanent error fails it and the relay goes
    on; a transient one stops the round with it (and every later event) still pending."""
    hub = setup(make_hub, any_db_settings)
    ids = book_events(hub, "F", 3)
    bad = ids[1]

    def boom(event: object, ctx: EventContext) -> Fanout:
        if ctx.outbox_id == bad:
            raise TransientError("receiver table busy") if transient else HubError("no SIU")
        return Fanout()

    hub.outbox.subscribe("boom", boom)  # after the SIU subscriber: it ran first, then this
    handled = hub.outbox.run_until_idle()
    with hub.uow() as uow:
        status = {i: obox.get(uow.conn, i).status for i in ids}
    assert [d for d, _ in per_destination(hub)] == (
        [ids[0], ids[0], ids[2], ids[2]] if not transient else [ids[0], ids[0]]
    )
    if transient:
        assert handled == 1
        assert status == {ids[0]: "relayed", bad: "pending", ids[2]: "pending"}
        with hub.uow() as uow:
            assert obox.get(uow.conn, bad).last_error_code is not None
    else:
        assert handled == 3
        assert status == {ids[0]: "relayed", bad: "failed", ids[2]: "relayed"}


def _relayed(hub: Hub) -> int:
    """Events relayed and committed, read in another transaction while a round holds the
    writer (on SQLite a read-only snapshot, as the relay's own peek is)."""
    with (hub.pipeline.peek_uow or hub.uow)() as uow:
        q = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status == "relayed")
        return int(uow.conn.execute(q).scalar_one())


@pytest.mark.parametrize(
    ("waiting", "rounds", "seen"),
    [
        # asked after the first and second events of each round: a round each, in order
        (True, [(1, True), (1, True), (1, True), (0, False)], [0, 1]),
        # asked after the first and second: one round, nothing committed before its end
        (False, [(3, True), (0, False)], [0, 0]),
    ],
    ids=["ingest-waits", "nobody-waits"],
)
def test_a_relay_round_ends_after_the_current_event_when_ingest_waits(
    any_db_settings: Settings,
    make_hub: Callable[..., Hub],
    waiting: bool,
    rounds: list[tuple[int, bool]],
    seen: list[int],
) -> None:
    hub = setup(make_hub, any_db_settings)
    ids = book_events(hub, "W", 3)
    asked: list[int] = []

    def probe() -> bool:
        asked.append(_relayed(hub))
        return waiting

    hub.outbox.writer_wanted = probe
    assert [hub.outbox.relay_batch() for _ in rounds] == rounds
    assert asked == seen
    # every event relayed once, in id order, two destinations each
    assert [d for d, _ in per_destination(hub)] == [i for i in ids for _ in range(2)]
    assert _relayed(hub) == 3


def test_sqlite_a_relay_round_lets_a_waiting_ingest_in_after_one_event(
    sqlite_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    """The real probe and lock: a durable writer (an ingest about to ACK) that starts waiting
    while a round relays its first event gets the writer right after that event; the round's
    other events follow in later rounds. With nobody waiting, the probe asked from inside the
    round says no (the round itself is not counted as an ingest), so it relays all three."""
    hub = setup(make_hub, sqlite_settings)
    ids = book_events(hub, "R", 6)
    assert hub.outbox.relay_batch(limit=3) == (3, True)

    order: list[str] = []
    ingest_waits = threading.Event()

    def ingest() -> None:
        ingest_waits.set()
        with hub.uow() as uow:  # durable: waits for the round's commit
            order.append(f"ingest after {_relayed(hub)}")
            uow.commit()

    started: list[threading.Thread] = []

    def first_event_starts_an_ingest(event: object, ctx: EventContext) -> Fanout:
        if not started:
            started.append(threading.Thread(target=ingest))
            started[0].start()
            assert ingest_waits.wait(10)
            wait_until(hub.pipeline.writer_wanted, what="the ingest waiting for the writer")
        order.append(f"event {ctx.outbox_id}")
        return Fanout()

    hub.outbox.subscribe("starter", first_event_starts_an_ingest)
    assert hub.outbox.relay_batch(limit=3) == (1, True)
    started[0].join(10)
    assert hub.outbox.run_until_idle() == 2
    assert order == [f"event {ids[3]}", "ingest after 4", f"event {ids[4]}", f"event {ids[5]}"]
