"""FHIR Patient -> the PM patient (UpsertPatient).

Key (the PM keys a patient by facility + MRN, DESIGN.md section 3): an update keeps the row's
key; a new patient takes its MRN identifier (``type`` MR, or a ``urn:hub:mrn:<facility>``
system: the facility of that URN, the HL7 MSH-4 one), else its first identifier (system as the
facility), else the hub's own ``fhir`` facility with the minted id. All identifiers are kept.
"""

from __future__ import annotations

from urllib.parse import unquote

from hub.mappings.fhir_pm.common import (
    FHIR_FACILITY,
    MRN_SYSTEM_PREFIX,
    Json,
    Mapped,
    Resolver,
    Target,
    address,
    code_in,
    human_name,
    identifiers,
    name_parts,
    parse_date,
    put,
    telecom,
)
from hub.mappings.pm_fhir.common import namespace_of
from hub.pm.changes import Identifier, PatientKey, UpsertPatient
from hub.pm.enums import AdministrativeGender

GENDER = {g.value: g for g in AdministrativeGender}


def facility_of(system: str) -> str | None:
    """The facility of an MRN system (``urn:hub:mrn:<facility, URL-quoted>``), else None."""
    if system.startswith(MRN_SYSTEM_PREFIX):
        return unquote(system.removeprefix(MRN_SYSTEM_PREFIX))
    return None


def authority_of(system: str) -> str:
    """The PM's assigning authority (PID-3.4) of an identifier system: the inverse of how the
    read side writes one (:func:`hub.mappings.pm_fhir.common.authority_system`)."""
    facility = facility_of(system)
    if facility is not None:
        return facility
    return (namespace_of(system) or "") if system else ""


def pm_identifier(system: str, value: str, type_code: str) -> Identifier:
    if facility_of(system) is not None:
        return Identifier(value, authority_of(system), type_code or "MR")
    return Identifier(value, authority_of(system), type_code)


def patient_key(resource: Json, minted: str) -> PatientKey:
    found = identifiers(resource)
    for system, value, _type in found:
        facility = facility_of(system)
        if facility is not None:
            return PatientKey(facility, value)
    for system, value, type_code in found:
        if type_code == "MR":
            return PatientKey(system, value)
    if found:
        return PatientKey(found[0][0], found[0][1])
    return PatientKey(FHIR_FACILITY, minted)


def key_of(resource: Json, target: Target, resolver: Resolver) -> PatientKey:
    existing = resolver.patient(target.existing) if target.existing else None
    return existing or patient_key(resource, target.minted)


def map_patient(resource: Json, target: Target, resolver: Resolver) -> Mapped:
    fields: dict[str, object] = {}
    for column, value in name_parts(human_name(resource)).items():
        put(fields, column, value)
    put(fields, "birth_date", parse_date(resource.get("birthDate"), "Patient.birthDate"))
    gender = resource.get("gender")
    put(fields, "sex", None if gender is None else code_in(gender, GENDER, "Patient.gender"))
    put(fields, "address", address(resource))
    put(fields, "telecom", telecom(resource))
    fields["active"] = 0 if resource.get("active") is False else 1
    deceased = resource.get("deceasedBoolean") is True or "deceasedDateTime" in resource
    fields["deceased"] = 1 if deceased else 0
    idents = tuple(pm_identifier(s, v, t) for s, v, t in identifiers(resource))
    key = key_of(resource, target, resolver)
    return Mapped((UpsertPatient(key, idents, fields),), "patients")
