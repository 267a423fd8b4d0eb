"""FHIR Appointment -> the PM appointment (UpsertAppointment), keyed by (source system, filler
id): the first identifier's system and value (SCH-2's namespace and id), else the hub's
``fhir`` system with the minted id; an update keeps the key.

Participants name the patient, the practitioner and the location by their type; ``start`` and
``minutesDuration`` (else ``end`` minus ``start``), ``appointmentType`` and the first
``reasonCode`` fill the rest. Status keeps the PM's five words: the waiting states (proposed,
pending, arrived, checked-in, waitlist) are ``booked``; entered-in-error is ``deleted``.

Online booking (ADR 0028): ``slot`` names the Slot booked, a free one by its computed id
(``Slot/t<template>-<UTC start>``) or a busy one by its appointment's id; the repository claims
it, so a slot no template makes is 422 and one already taken 409, both at ``Appointment.slot``.
Every FHIR write is ``exclusive``: a live appointment at the start of another live one of the
same practitioner is refused (409), whether or not it names a slot.
"""

from __future__ import annotations

from hub.errors import MappingError
from hub.mappings.fhir_pm.common import (
    FHIR_FACILITY,
    Json,
    Mapped,
    Resolver,
    Target,
    at,
    code_in,
    concept_text,
    identifiers,
    invalid,
    items,
    optional_location,
    optional_provider,
    parse_instant,
    put,
    reference,
    require_type,
    unknown_reference,
)
from hub.pm.changes import LocationRef, PatientKey, ProviderRef, SlotClaim, UpsertAppointment
from hub.pm.enums import AppointmentStatus
from hub.pm.slots import parse_slot_id

STATUS = {
    "proposed": AppointmentStatus.BOOKED,
    "pending": AppointmentStatus.BOOKED,
    "booked": AppointmentStatus.BOOKED,
    "arrived": AppointmentStatus.BOOKED,
    "checked-in": AppointmentStatus.BOOKED,
    "waitlist": AppointmentStatus.BOOKED,
    "fulfilled": AppointmentStatus.FULFILLED,
    "cancelled": AppointmentStatus.CANCELLED,
    "noshow": AppointmentStatus.NOSHOW,
    "entered-in-error": AppointmentStatus.DELETED,
}
ACTORS = (
    "Patient",
    "Practitioner",
    "Location",
    "PractitionerRole",
    "Device",
    "HealthcareService",
    "RelatedPerson",
)


def _actors(
    resource: Json, resolver: Resolver
) -> tuple[PatientKey | None, ProviderRef | None, LocationRef | None]:
    patient = provider = place = None
    for index, participant in enumerate(items(resource, "participant")):
        where = f"Appointment.participant[{index}].actor"
        ref = reference(participant, "actor")
        if ref is None:
            continue
        kind = require_type(ref, ACTORS, where)
        if kind == "Patient" and patient is None:
            patient = resolver.patient(ref)
            if patient is None:
                raise unknown_reference(where)
        elif kind == "Practitioner" and provider is None:
            provider = optional_provider(ref, resolver, where)
        elif kind == "Location" and place is None:
            place = optional_location(ref, resolver, where)
    return patient, provider, place


# where the repository's slot errors point (it raises without a location)
SLOT_ERRORS = {
    "slot_unknown": "Appointment.slot",
    "slot_taken": "Appointment.slot",
    "slot_mismatch": "Appointment.slot",
}


def _slot(resource: Json) -> SlotClaim | None:
    found = items(resource, "slot")
    if not found:
        return None
    if len(found) > 1:
        raise MappingError(
            "book one slot at a time", code="slot_unknown", location=at("Appointment.slot")
        )
    where = "Appointment.slot[0]"
    ref = found[0].get("reference")
    if not isinstance(ref, str) or ref.count("/") != 1 or not ref.startswith("Slot/"):
        raise invalid("give the slot as Slot/<id>", where, "invalid_reference")
    ident = ref.removeprefix("Slot/")
    if ident.isdigit() and len(ident) <= 18:
        return SlotClaim(appointment_id=int(ident))
    parsed = parse_slot_id(ident)
    if parsed is None:
        raise MappingError("no such slot on this server", code="slot_unknown", location=at(where))
    return SlotClaim(template_id=parsed[0], start=parsed[1])


def map_appointment(resource: Json, target: Target, resolver: Resolver) -> Mapped:
    status = code_in(resource.get("status"), STATUS, "Appointment.status")
    existing = resolver.appointment(target.existing) if target.existing else None
    if existing is not None:
        system, filler = existing.source_system, existing.filler_id
    else:
        found = identifiers(resource)
        system, filler = (
            (found[0][0] or FHIR_FACILITY, found[0][1])
            if found
            else (FHIR_FACILITY, f"fhir:{target.minted}")
        )
    patient, provider, place = _actors(resource, resolver)
    if patient is None:
        raise invalid("a participant must be the patient", "Appointment.participant", "required")
    start = parse_instant(resource.get("start"), "Appointment.start")
    end = parse_instant(resource.get("end"), "Appointment.end")
    minutes = resource.get("minutesDuration")
    if minutes is not None and (
        not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0
    ):
        raise invalid("minutesDuration must be a positive integer", "Appointment.minutesDuration")
    if minutes is None and start is not None and end is not None:
        if end < start:
            raise invalid("end is before start", "Appointment.end")
        minutes = int((end - start).total_seconds() // 60)
    fields: dict[str, object] = {"status": status}
    put(fields, "start", start)
    put(fields, "minutes", minutes)
    put(fields, "type", concept_text(resource.get("appointmentType")))
    reasons = items(resource, "reasonCode")
    put(fields, "reason", concept_text(reasons[0]) if reasons else None)
    change = UpsertAppointment(
        system,
        filler,
        patient,
        fields,
        provider=provider,
        location=place,
        slot=_slot(resource),
        exclusive=True,
    )
    return Mapped((change,), "appointments", locate=SLOT_ERRORS)
