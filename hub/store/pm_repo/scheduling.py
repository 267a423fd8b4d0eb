"""The scheduling aggregate: encounters, coverages and appointments of a patient."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict, ValidationError
from hub.pm import convert
from hub.pm.changes import BookAppointment, UpsertAppointment, UpsertCoverage, UpsertEncounter
from hub.pm.entities import Appointment, Coverage, Encounter
from hub.pm.enums import AppointmentStatus, EncounterStatus
from hub.pm.rules import values as column_values
from hub.store.pm_repo import schedules
from hub.store.pm_repo.patients import require_patient
from hub.store.pm_repo.references import resolve_location, resolve_payer, resolve_provider
from hub.store.pm_repo.rows import Stamp, b, content, write
from hub.store.pm_tables import appointments, coverages, encounters
from hub.store.prepared import run

_e = encounters.c
_LATEST_ENCOUNTER = (
    sa.select(*content(encounters))
    .where(_e.patient_id == b("b_pid"))
    .order_by(_e.id.desc())
    .limit(1)
)
_ENCOUNTER_BY_VISIT = (
    sa.select(*content(encounters))
    .where(_e.patient_id == b("b_pid"), _e.visit_number == b("b_visit"))
    .order_by(_e.id.desc())
    .limit(1)
)
_c = coverages.c
_COVERAGE_AT_PRIORITY = (
    sa.select(*content(coverages))
    .where(_c.patient_id == b("b_pid"), _c.priority == b("b_priority"))
    .order_by(_c.id.desc())
    .limit(1)
)
_a = appointments.c
_APPOINTMENT_BY_FILLER = (
    sa.select(*content(appointments))
    .where(_a.source_system == b("b_source"), _a.filler_id == b("b_filler"))
    .order_by(_a.id)
    .limit(1)
)
_APPOINTMENT = sa.select(appointments).where(_a.id == b("b_id"))


def encounter_row(conn: Connection, patient_id: int, visit_number: str | None) -> Any:
    if visit_number:
        found = run(conn, _ENCOUNTER_BY_VISIT, {"b_pid": patient_id, "b_visit": visit_number})
    else:
        found = run(conn, _LATEST_ENCOUNTER, {"b_pid": patient_id})
    return found.first()


def upsert_encounter(conn: Connection, ch: UpsertEncounter, stamp: Stamp) -> int:
    pid = require_patient(conn, ch.patient, stamp)
    existing = encounter_row(conn, pid, ch.visit_number)
    if existing is None and ch.must_exist:
        raise ValidationError("encounter not known", code="unknown_key")
    values = column_values(ch.fields)
    attending = resolve_provider(conn, ch.attending, stamp)
    if attending is not None:
        values["attending_provider_id"] = attending
    place = resolve_location(conn, ch.location, stamp)
    if place is not None:
        values["location_id"] = place
    if existing is None:
        values.setdefault("status", EncounterStatus.IN_PROGRESS.value)
        values.update(patient_id=pid, visit_number=ch.visit_number)
    return write(conn, encounters, None if existing is None else existing._mapping, values, stamp)


def upsert_coverage(conn: Connection, ch: UpsertCoverage, stamp: Stamp) -> int:
    pid = require_patient(conn, ch.patient, stamp)
    existing = run(conn, _COVERAGE_AT_PRIORITY, {"b_pid": pid, "b_priority": ch.priority}).first()
    values = column_values(ch.fields)
    payer = resolve_payer(conn, ch.payer, stamp)
    if payer is not None:
        values["payer_org_id"] = payer
    if existing is None:
        values.update(patient_id=pid, priority=ch.priority)
    return write(conn, coverages, None if existing is None else existing._mapping, values, stamp)


def appointment_row(conn: Connection, source_system: str, filler_id: str) -> Any:
    return run(
        conn, _APPOINTMENT_BY_FILLER, {"b_source": source_system, "b_filler": filler_id}
    ).first()


def find_appointment(conn: Connection, source_system: str, filler_id: str) -> int | None:
    row = appointment_row(conn, source_system, filler_id)
    return None if row is None else int(row.id)


def upsert_appointment(conn: Connection, ch: UpsertAppointment, stamp: Stamp) -> int:
    existing = appointment_row(conn, ch.source_system, ch.filler_id)
    if existing is None and ch.must_exist:
        raise ValidationError("appointment not known", code="unknown_key")
    values = column_values(ch.fields)
    if ch.patient is not None:
        values["patient_id"] = require_patient(conn, ch.patient, stamp)
    provider = resolve_provider(conn, ch.provider, stamp)
    if provider is not None:
        values["provider_id"] = provider
    place = resolve_location(conn, ch.location, stamp)
    if place is not None:
        values["location_id"] = place
    if existing is None:
        values.setdefault("status", AppointmentStatus.BOOKED.value)
        values.update(source_system=ch.source_system, filler_id=ch.filler_id)
    old = None if existing is None else existing._mapping
    if ch.slot is not None or ch.exclusive:
        _one_booking_per_slot(conn, ch, values, old)
    try:
        return write(conn, appointments, old, values, stamp)
    except sa.exc.IntegrityError as exc:
        # the partial unique index is the arbiter of a race the check above cannot see
        # (another transaction's booking of the same slot, committed meanwhile)
        if "live_slot" in str(exc) or "appointments.provider_id, appointments.start" in str(exc):
            raise schedules.slot_taken() from None
        raise


def _one_booking_per_slot(
    conn: Connection, ch: UpsertAppointment, values: dict[str, Any], old: Any
) -> None:
    """Online booking (ADR 0028): claim the slot asked for, and refuse a live appointment
    where another live one of the same provider already is."""
    own = None if old is None else int(old["id"])
    span = None
    if ch.slot is not None:
        span = schedules.claim_slot(conn, ch.slot, values, own)
    merged = {**({} if old is None else dict(old)), **values}
    start, provider = merged.get("start"), merged.get("provider_id")
    if merged.get("status") not in schedules.LIVE or start is None or provider is None:
        return
    end = start if span is None else span.end
    schedules.check_free(conn, int(provider), start, end, own)


def book_appointment(conn: Connection, ch: BookAppointment, stamp: Stamp) -> int:
    if ch.filler_id and appointment_row(conn, ch.source_system, ch.filler_id) is not None:
        raise Conflict("an appointment with this filler id already exists", code="duplicate_key")
    values = column_values(ch.fields)
    values.setdefault("status", AppointmentStatus.BOOKED.value)
    values.update(
        source_system=ch.source_system,
        filler_id=ch.filler_id,
        patient_id=require_patient(conn, ch.patient, stamp),
        provider_id=resolve_provider(conn, ch.provider, stamp),
        location_id=resolve_location(conn, ch.location, stamp),
    )
    appt_id = write(conn, appointments, None, values, stamp)
    if not ch.filler_id:  # the PM is the filler: its id is PM<row id>
        row = run(conn, _APPOINTMENT, {"b_id": appt_id}).first()
        assert row is not None
        write(conn, appointments, row._mapping, {"filler_id": f"PM{appt_id}"}, stamp)
    return appt_id


class SqlScheduling:
    def __init__(self, conn: Connection, stamp: Stamp) -> None:
        self.conn, self.stamp = conn, stamp

    def appointment(self, appointment_id: int) -> Appointment | None:
        r = run(self.conn, _APPOINTMENT, {"b_id": appointment_id}).first()
        return None if r is None else convert.appointment(r._mapping)

    def find_appointments(
        self, filler_id: str, source_system: str | None = None, *, limit: int = 2
    ) -> list[Appointment]:
        q = sa.select(appointments).where(_a.filler_id == filler_id)
        if source_system is not None:
            q = q.where(_a.source_system == source_system)
        return [
            convert.appointment(r._mapping)
            for r in self.conn.execute(q.order_by(_a.id).limit(limit))
        ]

    def appointments_of(self, patient_id: int) -> list[Appointment]:
        q = sa.select(appointments).where(_a.patient_id == patient_id).order_by(_a.id)
        return [convert.appointment(r._mapping) for r in self.conn.execute(q)]

    def encounters_of(self, patient_id: int) -> list[Encounter]:
        q = sa.select(encounters).where(_e.patient_id == patient_id).order_by(_e.id)
        return [convert.encounter(r._mapping) for r in self.conn.execute(q)]

    def coverages_of(self, patient_id: int) -> list[Coverage]:
        q = sa.select(coverages).where(_c.patient_id == patient_id).order_by(_c.priority, _c.id)
        return [convert.coverage(r._mapping) for r in self.conn.execute(q)]

    def coverage(self, coverage_id: int) -> Coverage | None:
        r = self.conn.execute(sa.select(coverages).where(_c.id == coverage_id)).first()
        return None if r is None else convert.coverage(r._mapping)
