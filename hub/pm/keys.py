"""Natural keys and references: how changes name PM rows without database ids.

Rows are found by natural keys, never by database ids, so the same list of changes applied
twice gives the same state: patients by (facility, MRN), encounters by (patient, visit number),
appointments by (source system, filler id), charges by (patient, transaction id), coverages by
(patient, priority), claims by patient control number (CLM01).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PatientKey:
    """A patient as the sender knows it: the sender's facility + MRN."""

    facility: str
    mrn: str


@dataclass(frozen=True, slots=True)
class Identifier:
    """One patient identifier: value, assigning authority, type code (v2 table 0203, the
    vocabulary FHIR's Identifier.type uses too)."""

    value: str
    assigning_authority: str = ""
    type_code: str = ""


@dataclass(frozen=True, slots=True)
class ProviderRef:
    """A practitioner. Found by NPI when the sender marks the id as an NPI, else by the
    sender's local id. Names, tax id and taxonomy only fill or update, never clear."""

    npi: str | None = None
    local_id: str | None = None
    family_name: str = ""
    given_name: str = ""
    prefix: str | None = None
    suffix: str | None = None
    tax_id: str | None = None
    taxonomy: str | None = None


@dataclass(frozen=True, slots=True)
class LocationRef:
    """A place of service: unique by (facility, code)."""

    facility: str
    code: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class PayerRef:
    """A payer organization; found by its local id, else by its name."""

    local_id: str | None
    name: str


@dataclass(frozen=True, slots=True)
class EncounterKey:
    """An encounter: its patient and visit number (PV1-19)."""

    patient: PatientKey
    visit_number: str | None


@dataclass(frozen=True, slots=True)
class AppointmentKey:
    """An appointment: the filler's system and id (SCH-2)."""

    source_system: str
    filler_id: str


@dataclass(frozen=True, slots=True)
class CoverageKey:
    """A coverage: its patient and priority (IN1-1)."""

    patient: PatientKey
    priority: int


@dataclass(frozen=True, slots=True)
class OrganizationKey:
    """An organization: its kind (practice, payer, facility, other) and the sender's code."""

    kind: str
    local_id: str


def is_npi(value: str) -> bool:
    """A 10-digit National Provider Identifier with a valid check digit (Luhn over the
    ``80840`` prefix, as CMS specifies)."""
    if len(value) != 10 or not value.isdigit():
        return False
    digits = [int(c) for c in "80840" + value]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 == 1 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0
