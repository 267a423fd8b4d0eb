"""Typed entities of the PM model read back from a repository: people, places and visits.

Pure values (frozen dataclasses). Every entity carries its database ``id`` and the row
``version`` (1 on creation, +1 per change of content; see :mod:`hub.pm.history`). Vocabularies
are the protocol-neutral ones of :mod:`hub.pm.enums`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from hub.pm.enums import (
    AdministrativeGender,
    AppointmentStatus,
    ChargeStatus,
    EligibilityStatus,
    EncounterClass,
    EncounterStatus,
)
from hub.pm.keys import Identifier, PatientKey


@dataclass(frozen=True, slots=True)
class Versioned:
    """Bookkeeping every PM row has: its id, version and last change."""

    id: int
    version: int = 1
    updated_at: datetime | None = None
    source_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    meta: Versioned
    key: PatientKey
    identifiers: tuple[Identifier, ...] = ()
    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    birth_date: date | None = None
    gender: AdministrativeGender | None = None
    address: dict[str, Any] | None = None
    telecom: list[dict[str, str]] | None = None
    active: bool = True
    deceased: bool = False
    merged_into_id: int | None = None

    @property
    def id(self) -> int:
        return self.meta.id


@dataclass(frozen=True, slots=True)
class Organization:
    """A practice, payer or facility. ``payer_id`` is the clearinghouse's payer id."""

    meta: Versioned
    kind: str  # practice | payer | facility | other
    name: str = ""
    local_id: str | None = None
    payer_id: str | None = None
    npi: str | None = None
    tax_id: str | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    meta: Versioned
    npi: str | None = None
    local_id: str | None = None
    family_name: str = ""
    given_name: str = ""
    prefix: str | None = None
    suffix: str | None = None
    tax_id: str | None = None
    taxonomy: str | None = None  # NUCC health care provider taxonomy code
    organization_id: int | None = None


@dataclass(frozen=True, slots=True)
class Location:
    meta: Versioned
    facility: str
    code: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Coverage:
    meta: Versioned
    patient_id: int
    priority: int  # 1 primary, 2 secondary, ...
    payer_org_id: int | None = None
    plan_id: str | None = None
    plan_name: str | None = None
    member_id: str | None = None
    group_number: str | None = None
    group_name: str | None = None
    subscriber_id: str | None = None
    relationship: str | None = None  # self | spouse | child | other
    period_start: date | None = None
    period_end: date | None = None
    eligibility_status: EligibilityStatus | None = None
    active: bool = True
    subscriber_name: dict[str, str] | None = None  # {family, given}: when not the patient
    subscriber_birth_date: date | None = None


@dataclass(frozen=True, slots=True)
class Encounter:
    meta: Versioned
    patient_id: int
    visit_number: str | None
    status: EncounterStatus
    class_code: EncounterClass | None = None
    admit_at: datetime | None = None
    discharge_at: datetime | None = None
    attending_provider_id: int | None = None
    location_id: int | None = None


@dataclass(frozen=True, slots=True)
class Appointment:
    meta: Versioned
    source_system: str
    filler_id: str | None
    status: AppointmentStatus
    patient_id: int | None = None
    placer_id: str | None = None
    provider_id: int | None = None
    location_id: int | None = None
    start: datetime | None = None
    minutes: int | None = None
    type: str | None = None
    reason: str | None = None
    slot_template_id: int | None = None  # the template whose slot it booked (ADR 0028)

    @property
    def id(self) -> int:
        return self.meta.id


@dataclass(frozen=True, slots=True)
class ScheduleTemplate:
    """A rule of a provider's availability (ADR 0028): every ``weekday`` (0 Monday .. 6
    Sunday) from ``start_time`` to ``end_time`` local time in ``timezone`` (an IANA zone), in
    slots of ``slot_minutes``, on dates from ``valid_from`` to ``valid_to`` (inclusive, open
    when None). A removed template stays as a row with ``active`` false, so the ids of slots
    booked from it still name it."""

    meta: Versioned
    provider_id: int
    weekday: int
    start_time: time
    end_time: time
    slot_minutes: int
    timezone: str
    location_id: int | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    active: bool = True

    @property
    def id(self) -> int:
        return self.meta.id


@dataclass(frozen=True, slots=True)
class Charge:
    meta: Versioned
    patient_id: int
    transaction_id: str
    service_date: date
    code: str  # CPT / HCPCS
    amount: Decimal
    units: Decimal = Decimal(1)
    modifiers: tuple[str, ...] = ()
    diagnosis_codes: tuple[str, ...] = ()  # ICD-10-CM, in pointer order
    status: ChargeStatus = ChargeStatus.OPEN
    encounter_id: int | None = None
    provider_id: int | None = None
    claim_id: int | None = None


@dataclass(frozen=True, slots=True)
class MergeRecord:
    """An A40-style merge and what it moved, so it can be undone."""

    id: int
    survivor_id: int
    merged_id: int
    moved: dict[str, Any] = field(default_factory=dict)
    merged_at: datetime | None = None
    undone_at: datetime | None = None
    source_message_id: int | None = None
