"""PM -> X12 outbound inputs (837P, 270, 276): the neutral PM words into X12 codes.

Pure: typed PM entities in, the typed inputs of :mod:`hub.adapters.x12.claim_837p`,
:mod:`~hub.adapters.x12.eligibility_270` and :mod:`~hub.adapters.x12.status_276` out. What
cannot be sent is a :class:`~hub.errors.MappingError` whose code and message say what is
missing (never the patient's data), so a claim is left ``ready`` with its reason.

Codes: DMG03 gender (``male`` M, ``female`` F, else U); PAT01 the patient's relationship to the
subscriber (``spouse`` 01, ``child`` 19, ``other`` G8; ``self`` or none: the patient is the
subscriber, SBR02 18); CLM05-3 frequency (``original`` 1, ``replacement`` 7, ``void`` 8). Text is
stripped of the characters X12 uses as delimiters and cut to the element's maximum length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from hub.adapters.x12.claim_837p import (
    Address,
    Claim837,
    Payer,
    Person,
    Rendering,
    ServiceLine,
)
from hub.adapters.x12.eligibility_270 import Inquiry270, Provider
from hub.adapters.x12.status_276 import Inquiry276
from hub.errors import MappingError
from hub.pm.billing import Claim
from hub.pm.entities import Coverage, Organization, Patient
from hub.pm.entities import Provider as PmProvider
from hub.pm.enums import AdministrativeGender, ClaimFrequency

GENDER = {AdministrativeGender.MALE: "M", AdministrativeGender.FEMALE: "F"}
RELATIONSHIP = {"spouse": "01", "child": "19", "other": "G8"}
FREQUENCY = {
    ClaimFrequency.ORIGINAL: "1",
    ClaimFrequency.REPLACEMENT: "7",
    ClaimFrequency.VOID: "8",
}
_UNSAFE = re.compile(r"[*:^~|>\x00-\x1f\x7f]+")


def text(value: object, max_len: int) -> str:
    """``value`` as X12 text: delimiters and control characters become spaces, cut short."""
    if value is None:
        return ""
    cleaned = " ".join(_UNSAFE.sub(" ", str(value)).split())
    return cleaned[:max_len].rstrip()


def _missing(code: str, what: str) -> MappingError:
    return MappingError(what, code=code)


@dataclass(frozen=True, slots=True)
class ClaimParts:
    """What the PM knows about one claim, read by the service before mapping."""

    claim: Claim
    patient: Patient
    coverage: Coverage
    payer: Organization
    rendering: PmProvider | None = None


def address(raw: dict[str, Any] | None) -> Address | None:
    if not raw:
        return None
    lines = tuple(t for line in raw.get("line") or () if (t := text(line, 55)))
    city, state = text(raw.get("city"), 30), text(raw.get("state"), 2).upper()
    postal = re.sub(r"[^0-9A-Za-z]", "", str(raw.get("postal_code") or ""))[:15]
    if not (lines and city and len(state) == 2 and len(postal) >= 3):
        return None
    return Address(lines, city, state, postal)


def person(p: Patient) -> Person:
    return Person(
        last=text(p.family_name, 60),
        first=text(p.given_name, 35),
        middle=text(p.middle_name, 25),
        suffix=text(p.suffix, 10),
        birth_date=p.birth_date,
        gender=GENDER.get(p.gender, "U") if p.gender else "U",
        address=address(p.address),
    )


def is_dependant(coverage: Coverage) -> bool:
    return (coverage.relationship or "self") != "self"


def subscriber_of(coverage: Coverage, patient: Patient) -> Person:
    """The subscriber: the patient, or the insured named on the coverage (IN1-16/IN1-18)."""
    if not is_dependant(coverage):
        return person(patient)
    name = coverage.subscriber_name or {}
    last = text(name.get("family"), 60)
    if not last:
        raise _missing("subscriber_missing", "the coverage names no subscriber (IN1-16)")
    return Person(
        last=last, first=text(name.get("given"), 35), birth_date=coverage.subscriber_birth_date
    )


def payer_of(org: Organization) -> Payer:
    payer_id = text(org.payer_id or org.local_id, 80)
    if not payer_id:
        raise _missing("payer_id_missing", "the payer has no payer id (NM109 PI)")
    return Payer(text(org.name, 60) or payer_id, payer_id)


def member_id(coverage: Coverage) -> str:
    found = text(coverage.member_id or coverage.subscriber_id, 80)
    if not found:
        raise _missing("member_id_missing", "the coverage has no member id (IN1-36)")
    return found


def _require_demographics(who: Person, role: str) -> None:
    if not who.last:
        raise _missing("name_missing", f"the {role} has no family name")
    if who.address is None:
        raise _missing("address_missing", f"the {role} has no full address (N3/N4)")
    if who.birth_date is None:
        raise _missing("birth_date_missing", f"the {role} has no birth date (DMG)")


def claim_837(parts: ClaimParts, *, billing_npi: str, place_of_service: str = "11") -> Claim837:
    """One claim as 837P input, or a MappingError naming what is missing."""
    c, coverage = parts.claim, parts.coverage
    if not c.lines:
        raise _missing("no_lines", "the claim has no service lines")
    if not c.diagnosis_codes:
        raise _missing("no_diagnosis", "the claim has no diagnosis code (HI is required)")
    frequency = FREQUENCY[c.frequency]
    if frequency != "1" and not c.original_claim_number:
        raise _missing("original_missing", "a replacement or void needs the original claim (F8)")
    dependant = is_dependant(coverage)
    patient = person(parts.patient)
    subscriber = subscriber_of(coverage, parts.patient)
    _require_demographics(patient, "patient")
    lines = tuple(
        ServiceLine(
            code=text(ln.code, 48),
            amount=ln.amount,
            units=ln.units,
            service_date=ln.service_date,
            pointers=ln.diagnosis_pointers or (1,),
            control_number=text(ln.line_item_control_number, 50),
            modifiers=tuple(text(m, 2) for m in ln.modifiers if text(m, 2)),
        )
        for ln in c.lines
    )
    return Claim837(
        patient_control_number=text(c.patient_control_number, 38),
        total=sum((ln.amount for ln in c.lines), start=Decimal(0)),
        subscriber=subscriber,
        member_id=member_id(coverage),
        payer=payer_of(parts.payer),
        diagnoses=tuple(c.diagnosis_codes),
        lines=lines,
        patient=patient if dependant else None,
        relationship=RELATIONSHIP.get(coverage.relationship or "", "18"),
        group_number=text(coverage.group_number, 50),
        group_name=text(coverage.group_name, 60),
        place_of_service=c.place_of_service or place_of_service,
        frequency=frequency,
        prior_authorization=text(c.prior_authorization, 50),
        original_reference=text(c.original_claim_number, 50) if frequency != "1" else "",
        rendering=rendering(parts.rendering, billing_npi),
    )


def rendering(provider: PmProvider | None, billing_npi: str) -> Rendering | None:
    """2310B only for a person with an NPI other than the billing provider's."""
    if provider is None or not provider.npi or provider.npi == billing_npi:
        return None
    last = text(provider.family_name, 60)
    if not last:
        return None
    return Rendering(last, text(provider.given_name, 35), provider.npi, provider.taxonomy or "")


def inquiry_270(
    *,
    patient: Patient,
    coverage: Coverage,
    payer: Organization,
    provider: Provider,
    trace_number: str,
    originator: str,
    as_of: date,
) -> Inquiry270:
    dependant = is_dependant(coverage)
    return Inquiry270(
        trace_number=trace_number,
        originator=originator,
        payer=payer_of(payer),
        provider=provider,
        subscriber=subscriber_of(coverage, patient) if dependant else person(patient),
        member_id=member_id(coverage),
        as_of=as_of,
        patient=person(patient) if dependant else None,
    )


def inquiry_276(
    *,
    parts: ClaimParts,
    provider: Provider,
    receiver_name: str,
    receiver_id: str,
    trace_number: str,
) -> Inquiry276:
    c, coverage = parts.claim, parts.coverage
    if not c.lines:
        raise _missing("no_lines", "the claim has no service lines")
    dates = [ln.service_date for ln in c.lines]
    dependant = is_dependant(coverage)
    return Inquiry276(
        trace_number=trace_number,
        payer=payer_of(parts.payer),
        receiver_name=receiver_name,
        receiver_id=receiver_id,
        provider=provider,
        subscriber=subscriber_of(coverage, parts.patient) if dependant else person(parts.patient),
        member_id=member_id(coverage),
        patient_control_number=c.patient_control_number,
        total=c.total_charge,
        service_from=min(dates),
        service_to=max(dates),
        payer_claim_number=text(c.payer_claim_number, 50),
        patient=person(parts.patient) if dependant else None,
    )
