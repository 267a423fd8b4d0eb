"""FHIR R4 resources -> PM changes, one module per resource type (DESIGN.md section 2).

:func:`map_resource` dispatches on ``resourceType`` through :data:`MAPPERS`; each mapper is a
pure function of the parsed resource, the :class:`~.common.Target` and a
:class:`~.common.Resolver` for references. Errors carry the FHIRPath of the element at fault
(``Patient.gender``), which the OperationOutcome puts in ``expression``.

:func:`lane_keys` gives the lanes a write waits in: the patient's (the key HL7 v2 uses for the
same patient, so FHIR and HL7 writes about one patient apply in arrival order) and one per
business identifier of the resource (so two writes that claim the same identifier, such as two
conditional creates, are ordered too).
"""

from __future__ import annotations

from collections.abc import Callable

from hub.errors import UnsupportedError
from hub.mappings.fhir_pm.appointment import map_appointment
from hub.mappings.fhir_pm.claim import map_claim
from hub.mappings.fhir_pm.common import (
    Json,
    Mapped,
    Resolver,
    Target,
    at,
    identifiers,
    items,
    lane_of,
    reference,
)
from hub.mappings.fhir_pm.coverage import map_coverage
from hub.mappings.fhir_pm.encounter import map_encounter
from hub.mappings.fhir_pm.location import map_location
from hub.mappings.fhir_pm.organization import map_organization
from hub.mappings.fhir_pm.patient import key_of, map_patient
from hub.mappings.fhir_pm.practitioner import map_practitioner
from hub.pm.changes import DeleteRecord

Mapper = Callable[[Json, Target, Resolver], Mapped]

MAPPERS: dict[str, Mapper] = {
    "Patient": map_patient,
    "Practitioner": map_practitioner,
    "Organization": map_organization,
    "Location": map_location,
    "Coverage": map_coverage,
    "Encounter": map_encounter,
    "Appointment": map_appointment,
    "Claim": map_claim,
}
# The PM table behind each writable type (what a FHIR id names).
TABLES: dict[str, str] = {
    "Patient": "patients",
    "Practitioner": "providers",
    "Organization": "organizations",
    "Location": "locations",
    "Coverage": "coverages",
    "Encounter": "encounters",
    "Appointment": "appointments",
    "Claim": "claims",
}
WRITABLE_TYPES = frozenset(MAPPERS)
# Where each type names its patient (for the lane).
PATIENT_ELEMENTS: dict[str, tuple[str, ...]] = {
    "Coverage": ("beneficiary",),
    "Encounter": ("subject",),
    "Claim": ("patient",),
}
MAX_IDENTIFIER_LANES = 8


def map_resource(resource: Json, target: Target, resolver: Resolver) -> Mapped:
    mapper = MAPPERS.get(target.resource_type)
    if mapper is None:
        raise UnsupportedError(
            f"{target.resource_type} cannot be written to the PM",
            code="not_writable",
            location=at(target.resource_type),
        )
    return mapper(resource, target, resolver)


def map_delete(resource_type: str, entity_id: int) -> Mapped:
    table = TABLES.get(resource_type)
    if table is None:
        raise UnsupportedError(
            f"{resource_type} cannot be deleted", code="not_writable", location=at(resource_type)
        )
    return Mapped((DeleteRecord(table, entity_id),), table)


def identifier_lane(resource_type: str, system: str, value: str) -> str:
    return f"fhir-identifier:{resource_type}|{system}|{value}"


def lane_keys(resource: Json, target: Target, resolver: Resolver) -> tuple[str, ...]:
    """The lanes of a write; references the resolver does not know add no lane (the write
    fails on them when processed)."""
    kind = target.resource_type
    found: list[str] = []
    if kind == "Patient":
        found.append(lane_of(key_of(resource, target, resolver)))
    for element in PATIENT_ELEMENTS.get(kind, ()):
        ref = reference(resource, element)
        key = resolver.patient(ref) if ref and ref.startswith("Patient/") else None
        if key is not None:
            found.append(lane_of(key))
    if kind == "Appointment":
        for participant in items(resource, "participant"):
            ref = reference(participant, "actor")
            if ref and ref.startswith("Patient/") and (key := resolver.patient(ref)):
                found.append(lane_of(key))
                break
    for system, value, _ in identifiers(resource)[:MAX_IDENTIFIER_LANES]:
        found.append(identifier_lane(kind, system, value))
    return tuple(dict.fromkeys(found))


__all__ = [
    "MAPPERS",
    "TABLES",
    "WRITABLE_TYPES",
    "Mapped",
    "Resolver",
    "Target",
    "identifier_lane",
    "lane_keys",
    "map_delete",
    "map_resource",
]
