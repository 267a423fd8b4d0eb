"""PM encounters and appointments → Encounter, Appointment and Slot.

Statuses are the PM's neutral ones, which are FHIR's for appointments; encounter classes are
translated to v3 ActCode. A booked appointment with a start is also a busy Slot (same id) in
its practitioner's Schedule (ADR 0020).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hub.mappings.pm_fhir.common import SYSTEMS, identifier, instant, reference, resource
from hub.pm.entities import Appointment, Encounter
from hub.pm.enums import AppointmentStatus, EncounterClass, EncounterStatus
from hub.pm.slots import FreeSlot

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CLASS = {
    EncounterClass.INPATIENT: ("IMP", "inpatient encounter"),
    EncounterClass.OUTPATIENT: ("AMB", "ambulatory"),
    EncounterClass.EMERGENCY: ("EMER", "emergency"),
    EncounterClass.PREADMISSION: ("PRENC", "pre-admission"),
    EncounterClass.RECURRING: ("AMB", "ambulatory"),
    EncounterClass.OBSTETRICS: ("IMP", "inpatient encounter"),
    EncounterClass.COMMERCIAL: ("AMB", "ambulatory"),
    EncounterClass.NOT_APPLICABLE: ("AMB", "ambulatory"),
    EncounterClass.UNKNOWN: ("AMB", "ambulatory"),
}
# FHIR Encounter.status (R4) for the PM's neutral encounter statuses
ENCOUNTER_STATUS = {
    EncounterStatus.PLANNED: "planned",
    EncounterStatus.IN_PROGRESS: "in-progress",
    EncounterStatus.FINISHED: "finished",
    EncounterStatus.CANCELLED: "cancelled",
}
# FHIR AppointmentStatus for the PM's: "deleted" was never booked in FHIR's sense
APPOINTMENT_STATUS = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NOSHOW: "noshow",
    AppointmentStatus.FULFILLED: "fulfilled",
    AppointmentStatus.DELETED: "entered-in-error",
}


def encounter(e: Encounter) -> dict[str, Any]:
    code, display = _CLASS[e.class_code or EncounterClass.UNKNOWN]
    participants = []
    if e.attending_provider_id is not None:
        participants.append(
            {
                "type": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "ATND",
                            }
                        ]
                    }
                ],
                "individual": reference("Practitioner", e.attending_provider_id),
            }
        )
    return resource(
        "Encounter",
        e.meta.id,
        e.meta,
        identifier=[identifier(SYSTEMS["visit"], e.visit_number)] if e.visit_number else [],
        status=ENCOUNTER_STATUS[e.status],
        **{"class": {"system": ACT_CODE, "code": code, "display": display}},
        subject=reference("Patient", e.patient_id),
        participant=participants,
        period={"start": instant(e.admit_at), "end": instant(e.discharge_at)},
        location=[{"location": reference("Location", e.location_id)}] if e.location_id else [],
    )


def _end(a: Appointment) -> str | None:
    if a.start is None or a.minutes is None:
        return None
    return instant(a.start + timedelta(minutes=a.minutes))


def appointment(a: Appointment) -> dict[str, Any]:
    ids = []
    if a.filler_id:
        ids.append(
            identifier(
                SYSTEMS["filler"],
                a.filler_id,
                assigner={"display": a.source_system} if a.source_system else None,
            )
        )
    if a.placer_id:
        ids.append(identifier(SYSTEMS["placer"], a.placer_id))
    actors = [
        ("Patient", a.patient_id),
        ("Practitioner", a.provider_id),
        ("Location", a.location_id),
    ]
    participant = [
        {"actor": reference(kind, ref), "status": "accepted"} for kind, ref in actors if ref
    ]
    return resource(
        "Appointment",
        a.id,
        a.meta,
        identifier=ids,
        status=APPOINTMENT_STATUS[a.status],
        appointmentType={"text": a.type} if a.type else None,
        reasonCode=[{"text": a.reason}] if a.reason else [],
        start=instant(a.start),
        end=_end(a),
        minutesDuration=a.minutes if a.minutes and a.minutes > 0 else None,
        slot=[reference("Slot", a.id)] if slot_of(a) else [],
        # FHIR requires at least one participant; an appointment without people or place
        # is still the sender's appointment, so it says so
        participant=participant or [{"status": "needs-action", "type": [{"text": "unknown"}]}],
    )


def slot_of(a: Appointment) -> bool:
    """Whether the appointment occupies a Slot: booked, with a start and a practitioner."""
    return a.start is not None and a.provider_id is not None


def slot(a: Appointment) -> dict[str, Any]:
    busy = a.status in (
        AppointmentStatus.BOOKED,
        AppointmentStatus.FULFILLED,
        AppointmentStatus.NOSHOW,
    )
    return resource(
        "Slot",
        a.id,
        a.meta,
        schedule=reference("Schedule", a.provider_id),
        status="busy" if busy else "free",
        start=instant(a.start),
        end=_end(a) or instant(a.start),
    )


def free_slot(s: FreeSlot) -> dict[str, Any]:
    """A free slot computed from a schedule template (ADR 0028): nothing stored, so no
    version; its id books it (``Appointment.slot``)."""
    return {
        "resourceType": "Slot",
        "id": s.id,
        "schedule": reference("Schedule", s.provider_id),
        "status": "free",
        "start": instant(s.start),
        "end": instant(s.end),
    }
