"""Stored rows (plain mappings of column -> value) into typed entities.

Shared by the SQL repositories and the in-memory one, so both read back exactly the same
values. A stored code outside its vocabulary (a row written before the vocabulary was neutral)
reads as None rather than failing the read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import time
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from hub.pm.billing import Claim, ClaimLine
from hub.pm.entities import (
    Appointment,
    Charge,
    Coverage,
    Encounter,
    Location,
    Organization,
    Patient,
    Provider,
    ScheduleTemplate,
    Versioned,
)
from hub.pm.enums import (
    AdministrativeGender,
    AppointmentStatus,
    ChargeStatus,
    ClaimFrequency,
    ClaimStatus,
    EligibilityStatus,
    EncounterClass,
    EncounterStatus,
)
from hub.pm.keys import Identifier, PatientKey

Row = Mapping[Any, Any]
E = TypeVar("E", bound=StrEnum)


def enum_or_none(kind: type[E], value: Any) -> E | None:
    try:
        return None if value is None else kind(value)
    except ValueError:
        return None


def dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def meta(r: Row) -> Versioned:
    return Versioned(
        id=int(r["id"]),
        version=int(r.get("version") or 1),
        updated_at=r.get("updated_at"),
        source_message_id=r.get("source_message_id"),
    )


def patient(r: Row, identifiers: Iterable[Row]) -> Patient:
    return Patient(
        meta=meta(r),
        key=PatientKey(r["facility"], r["mrn"]),
        identifiers=tuple(
            Identifier(i["value"], i["assigning_authority"], i["type_code"]) for i in identifiers
        ),
        family_name=r.get("family_name"),
        given_name=r.get("given_name"),
        middle_name=r.get("middle_name"),
        prefix=r.get("prefix"),
        suffix=r.get("suffix"),
        birth_date=r.get("birth_date"),
        gender=enum_or_none(AdministrativeGender, r.get("sex")),
        address=r.get("address"),
        telecom=r.get("telecom"),
        active=bool(r.get("active", 1)),
        deceased=bool(r.get("deceased", 0)),
        merged_into_id=r.get("merged_into_id"),
    )


def provider(r: Row) -> Provider:
    return Provider(
        meta(r),
        r.get("npi"),
        r.get("local_id"),
        r.get("family_name") or "",
        r.get("given_name") or "",
        r.get("prefix"),
        r.get("suffix"),
        r.get("tax_id"),
        r.get("taxonomy"),
        r.get("organization_id"),
    )


def location(r: Row) -> Location:
    return Location(meta(r), r["facility"], r["code"], r.get("name") or "")


def organization(r: Row) -> Organization:
    return Organization(
        meta(r),
        r["kind"],
        r.get("name") or "",
        r.get("local_id"),
        r.get("payer_id"),
        r.get("npi"),
        r.get("tax_id"),
    )


def appointment(r: Row) -> Appointment:
    return Appointment(
        meta(r),
        r["source_system"],
        r.get("filler_id"),
        AppointmentStatus(r["status"]),
        r.get("patient_id"),
        r.get("placer_id"),
        r.get("provider_id"),
        r.get("location_id"),
        r.get("start"),
        r.get("minutes"),
        r.get("type"),
        r.get("reason"),
        r.get("slot_template_id"),
    )


def schedule_template(r: Row) -> ScheduleTemplate:
    """Local times are stored as ``HH:MM`` text: a wall-clock time, not an instant."""
    return ScheduleTemplate(
        meta(r),
        int(r["provider_id"]),
        int(r["weekday"]),
        time.fromisoformat(r["start_time"]),
        time.fromisoformat(r["end_time"]),
        int(r["slot_minutes"]),
        r["timezone"],
        r.get("location_id"),
        r.get("valid_from"),
        r.get("valid_to"),
        bool(r.get("active", True)),
    )


def encounter(r: Row) -> Encounter:
    return Encounter(
        meta(r),
        int(r["patient_id"]),
        r.get("visit_number"),
        EncounterStatus(r["status"]),
        enum_or_none(EncounterClass, r.get("class_code")),
        r.get("admit_at"),
        r.get("discharge_at"),
        r.get("attending_provider_id"),
        r.get("location_id"),
    )


def coverage(r: Row) -> Coverage:
    return Coverage(
        meta(r),
        int(r["patient_id"]),
        int(r["priority"]),
        r.get("payer_org_id"),
        r.get("plan_id"),
        r.get("plan_name"),
        r.get("member_id"),
        r.get("group_number"),
        r.get("group_name"),
        r.get("subscriber_id"),
        r.get("relationship"),
        r.get("period_start"),
        r.get("period_end"),
        enum_or_none(EligibilityStatus, r.get("eligibility_status")),
        bool(r.get("active", 1)),
        r.get("subscriber_name"),
        r.get("subscriber_birth_date"),
    )


def charge(r: Row) -> Charge:
    return Charge(
        meta(r),
        int(r["patient_id"]),
        r["transaction_id"],
        r["service_date"],
        r["code"],
        Decimal(str(r["amount"])),
        Decimal(str(r["units"])),
        tuple(r.get("modifiers") or ()),
        tuple(r.get("diagnosis_codes") or ()),
        ChargeStatus(r["status"]),
        r.get("encounter_id"),
        r.get("provider_id"),
        r.get("claim_id"),
    )


def claim_line(r: Row) -> ClaimLine:
    return ClaimLine(
        int(r["line_number"]),
        r["service_date"],
        r["code"],
        Decimal(str(r["amount"])),
        Decimal(str(r["units"])),
        tuple(r.get("modifiers") or ()),
        tuple(r.get("diagnosis_pointers") or ()),
        r.get("line_item_control_number") or "",
        r.get("charge_id"),
        int(r["id"]),
    )


def claim(r: Row, lines: Iterable[Row]) -> Claim:
    return Claim(
        patient_control_number=r["patient_control_number"],
        patient_id=int(r["patient_id"]),
        status=ClaimStatus(r["status"]),
        total_charge=Decimal(str(r["total_charge"])),
        lines=tuple(claim_line(ln) for ln in lines),
        diagnosis_codes=tuple(r.get("diagnosis_codes") or ()),
        encounter_id=r.get("encounter_id"),
        coverage_id=r.get("coverage_id"),
        payer_org_id=r.get("payer_org_id"),
        billing_provider_id=r.get("billing_provider_id"),
        rendering_provider_id=r.get("rendering_provider_id"),
        place_of_service=r.get("place_of_service"),
        frequency=ClaimFrequency(r.get("frequency") or ClaimFrequency.ORIGINAL.value),
        original_claim_number=r.get("original_claim_number"),
        payer_claim_number=r.get("payer_claim_number"),
        submitted_at=r.get("submitted_at"),
        id=int(r["id"]),
        version=int(r.get("version") or 1),
        prior_authorization=r.get("prior_authorization"),
    )
