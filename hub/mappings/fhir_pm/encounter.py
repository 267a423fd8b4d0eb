"""FHIR Encounter -> the patient's PM encounter (UpsertEncounter), keyed by visit number.

``subject`` names the patient; the first identifier is the visit number (PV1-19), else the
minted id; ``status`` and ``class`` (v3 ActCode) map to the PM's neutral words; ``period`` to
admit and discharge; the first participant with a Practitioner is the attending; the first
location the place of service.
"""

from __future__ import annotations

from hub.mappings.fhir_pm.common import (
    Json,
    Mapped,
    Resolver,
    Target,
    code_in,
    identifiers,
    items,
    optional_location,
    optional_provider,
    parse_instant,
    put,
    reference,
    required_patient,
    text,
)
from hub.pm.changes import UpsertEncounter
from hub.pm.enums import EncounterClass, EncounterStatus

STATUS = {
    "planned": EncounterStatus.PLANNED,
    "arrived": EncounterStatus.IN_PROGRESS,
    "triaged": EncounterStatus.IN_PROGRESS,
    "in-progress": EncounterStatus.IN_PROGRESS,
    "onleave": EncounterStatus.IN_PROGRESS,
    "finished": EncounterStatus.FINISHED,
    "cancelled": EncounterStatus.CANCELLED,
    "entered-in-error": EncounterStatus.CANCELLED,
    "unknown": EncounterStatus.IN_PROGRESS,
}
CLASS = {
    "AMB": EncounterClass.OUTPATIENT,
    "SS": EncounterClass.OUTPATIENT,
    "VR": EncounterClass.OUTPATIENT,
    "HH": EncounterClass.OUTPATIENT,
    "IMP": EncounterClass.INPATIENT,
    "ACUTE": EncounterClass.INPATIENT,
    "NONAC": EncounterClass.INPATIENT,
    "OBSENC": EncounterClass.INPATIENT,
    "EMER": EncounterClass.EMERGENCY,
    "PRENC": EncounterClass.PREADMISSION,
}


def map_encounter(resource: Json, target: Target, resolver: Resolver) -> Mapped:
    status = code_in(resource.get("status"), STATUS, "Encounter.status")
    existing = resolver.encounter(target.existing) if target.existing else None
    patient = required_patient(resource, "subject", resolver, "Encounter.subject")
    found = identifiers(resource)
    if existing is not None:
        patient, visit = existing.patient, existing.visit_number
    else:
        visit = found[0][1] if found else f"fhir:{target.minted}"
    fields: dict[str, object] = {"status": status}
    klass = resource.get("class")
    code = text(klass.get("code")) if isinstance(klass, dict) else None
    put(fields, "class_code", None if code is None else CLASS.get(code, EncounterClass.UNKNOWN))
    period = resource.get("period") or {}
    put(fields, "admit_at", parse_instant(period.get("start"), "Encounter.period.start"))
    put(fields, "discharge_at", parse_instant(period.get("end"), "Encounter.period.end"))
    attending = None
    for index, participant in enumerate(items(resource, "participant")):
        ref = reference(participant, "individual")
        if ref is not None and ref.startswith("Practitioner/"):
            where = f"Encounter.participant[{index}].individual"
            attending = optional_provider(ref, resolver, where)
            break
    places = items(resource, "location")
    place_ref = reference(places[0], "location") if places else None
    place = optional_location(place_ref, resolver, "Encounter.location[0].location")
    change = UpsertEncounter(patient, visit, fields, attending=attending, location=place)
    return Mapped((change,), "encounters")
