"""The outbox: a PM change and its domain event commit together, and the relay makes exactly
one delivery per destination for each event, however often it runs (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from hub.bootstrap import Hub
from hub.config import Settings
from hub.errors import HubError
from hub.pm.events import AppointmentRescheduled
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
