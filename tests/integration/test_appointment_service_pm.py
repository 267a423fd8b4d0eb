"""The appointment service changes the PM through the PM repository: the providers and
locations messages created are found by the same rule, and its changes are versioned with the
acting user in the history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import HubFactory

from hub.config import Settings
from hub.errors import Conflict
from hub.pm.changes import UpsertPatient
from hub.pm.keys import LocationRef, PatientKey, ProviderRef
from hub.services.appointments import AppointmentService, BookRequest
from hub.store.pm_repo import SqlPm, Stamp, history_of
from hub.store.pm_tables import appointments, locations, providers

pytestmark = pytest.mark.integration
START = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


def request(filler: str | None, provider: str) -> BookRequest:
    return BookRequest(
        patient_mrn="MRN1",
        patient_facility="NORTH",
        start=START,
        minutes=20,
        provider=provider,
        location="ROOM2",
        filler_id=filler,
    )


def test_the_service_shares_the_pm_rules_and_records_history(
    make_hub: HubFactory, any_db_settings: Settings
) -> None:
    hub = make_hub(any_db_settings, plugins=[])
    with hub.uow() as uow:  # what an ADT would have left: the patient, a provider, a room
        pm = SqlPm(uow.conn, Stamp(None, START, "feed"))
        pm.apply(UpsertPatient(PatientKey("NORTH", "MRN1"), (), {"family_name": "DOE"}))
        npi_provider = pm.references.resolve_provider(ProviderRef(npi="1234567893"))
        room = pm.references.resolve_location(LocationRef("NORTH", "ROOM2", "Room 2"))
        uow.commit()
    service = AppointmentService(uow=hub.uow, clock=hub.clock)
    first = service.book(request("APPT-1", "1234567893"), actor="cli:ann")
    service.book(request(None, "DR9"), actor="cli:ann")
    service.book(request("APPT-3", "DR9"), actor="cli:bob")
    with pytest.raises(Conflict) as dup:
        service.book(request("APPT-1", "DR9"), actor="cli:ann")
    assert dup.value.code == "duplicate_key"
    service.reschedule("APPT-1", start=START.replace(hour=15), actor="cli:bob")

    with hub.engine.connect() as conn:
        rows = conn.execute(sa.select(appointments).order_by(appointments.c.id)).all()
        assert [r.filler_id for r in rows] == ["APPT-1", "PM2", "APPT-3"]
        assert rows[0].provider_id == npi_provider and {r.location_id for r in rows} == {room}
        assert rows[1].provider_id == rows[2].provider_id != npi_provider  # DR9 made once
        assert conn.execute(sa.select(sa.func.count()).select_from(providers)).scalar() == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(locations)).scalar() == 1
        history = history_of(conn, "appointments", first.appointment_id)
        assert [(h.version, h.actor) for h in history] == [(1, "cli:ann"), (2, "cli:bob")]
        assert set(history[1].changes) == {"start"}
        assert rows[0].version == 2
