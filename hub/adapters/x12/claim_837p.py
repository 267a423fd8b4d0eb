"""837P (005010X222A1, health care claim: professional) from typed inputs, on the X12 builder.

The inputs are X12-shaped already (codes, not the PM's neutral words: the mapping
:mod:`hub.mappings.pm_x12` translates); this module only lays them out in the implementation
guide's loops, and the builder (:mod:`hub.adapters.x12.builder`) fills HL and LX numbers, SE/GE/
IEA counts and control numbers and refuses a value holding a delimiter.

One transaction set holds, in order (X222A1 section 2.3):

* header: BHT (0019 original, 00, the batch reference, date, time, CH chargeable);
* 1000A submitter ``NM1*41`` with ``PER*IC``; 1000B receiver ``NM1*40``;
* 2000A billing provider ``HL*..*20`` (``PRV*BI`` when a taxonomy is known), 2010AA ``NM1*85``
  with NPI, N3, N4, ``REF*EI`` tax id;
* per claim: 2000B subscriber ``HL*..*22`` with SBR (SBR02 ``18`` when the patient is the
  subscriber), 2010BA ``NM1*IL`` (with N3/N4/DMG when the subscriber is the patient), 2010BB
  payer ``NM1*PR``; 2000C patient ``HL*..*23`` with PAT, ``NM1*QC``, N3, N4, DMG when the patient
  is someone else (a dependant);
* 2300 claim: CLM (CLM05 place of service : B : frequency 1/7/8), ``REF*G1`` prior
  authorisation, ``REF*F8`` payer claim control number of the claim replaced or voided, HI
  (``ABK`` principal then ``ABF`` diagnoses, ICD-10-CM without the dot); 2310B rendering provider
  ``NM1*82`` (and ``PRV*PE``) when the caller gives one (it differs from the billing provider);
* 2400 service lines: LX, SV1 (``HC`` code with modifiers, amount, ``UN`` units, diagnosis
  pointers), ``DTP*472`` service date, ``REF*6R`` line item control number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from hub.adapters.x12.builder import GroupBuilder, Hl, TransactionBuilder
from hub.errors import ValidationError

IMPLEMENTATION = "005010X222A1"
FUNCTIONAL_ID = "HC"  # GS01 for 837
MAX_DIAGNOSES = 12  # HI in 2300 (X222A1: principal + 11)
MAX_CLAIMS_PER_SET = 5000  # X222A1 section 1.4.1: at most 5000 CLM per ST..SE


@dataclass(frozen=True, slots=True)
class Address:
    lines: tuple[str, ...]
    city: str
    state: str
    postal_code: str


@dataclass(frozen=True, slots=True)
class Person:
    last: str
    first: str = ""
    middle: str = ""
    suffix: str = ""
    birth_date: date | None = None
    gender: str = "U"  # DMG03: F, M, U
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class Submitter:
    """1000A (the practice, with the partner's sender id) and its contact (PER)."""

    name: str
    id: str
    contact: str = ""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class Receiver:
    name: str
    id: str


@dataclass(frozen=True, slots=True)
class BillingProvider:
    name: str
    npi: str
    tax_id: str
    address: Address
    taxonomy: str = ""


@dataclass(frozen=True, slots=True)
class Payer:
    name: str
    id: str  # NM109 with qualifier PI


@dataclass(frozen=True, slots=True)
class Rendering:
    """2310B: a person with an NPI (and taxonomy) other than the billing provider."""

    last: str
    first: str
    npi: str
    taxonomy: str = ""


@dataclass(frozen=True, slots=True)
class ServiceLine:
    code: str  # CPT / HCPCS
    amount: Decimal
    units: Decimal
    service_date: date
    pointers: tuple[int, ...]  # 1-based into the claim's diagnoses, at most 4
    control_number: str  # REF*6R
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Claim837:
    patient_control_number: str  # CLM01
    total: Decimal
    subscriber: Person
    member_id: str
    payer: Payer
    diagnoses: tuple[str, ...]  # ICD-10-CM, principal first
    lines: tuple[ServiceLine, ...]
    patient: Person | None = None  # None: the subscriber is the patient
    relationship: str = "18"  # PAT01 when ``patient`` is given: 01 spouse, 19 child, G8 other
    group_number: str = ""
    group_name: str = ""
    filing_indicator: str = "CI"  # SBR09
    payer_responsibility: str = "P"  # SBR01: P primary, S secondary, T tertiary
    place_of_service: str = "11"
    frequency: str = "1"  # CLM05-3: 1 original, 7 replacement, 8 void
    prior_authorization: str = ""
    original_reference: str = ""  # REF*F8
    rendering: Rendering | None = None


@dataclass(frozen=True, slots=True)
class Header837:
    submitter: Submitter
    receiver: Receiver
    billing: BillingProvider
    reference: str  # BHT03: the batch's own id
    created: datetime


def icd10(code: str) -> str:
    """ICD-10-CM as X12 carries it: no dot, upper case."""
    return code.replace(".", "").strip().upper()


def write_837p(
    group: GroupBuilder,
    header: Header837,
    claims: Sequence[Claim837],
    *,
    control_number: int | None = None,
) -> TransactionBuilder:
    """One 837P transaction set with ``claims`` (at most :data:`MAX_CLAIMS_PER_SET`)."""
    if not claims:
        raise ValidationError("an 837P needs at least one claim", code="empty_batch")
    if len(claims) > MAX_CLAIMS_PER_SET:
        raise ValidationError(
            f"at most {MAX_CLAIMS_PER_SET} claims per transaction set", code="batch_too_large"
        )
    ts = group.transaction("837", control_number=control_number, implementation=IMPLEMENTATION)
    created = header.created
    ts.segment(
        "BHT",
        "0019",
        "00",
        header.reference,
        created.strftime("%Y%m%d"),
        created.strftime("%H%M"),
        "CH",
    )
    _submitter(ts, header.submitter, header.receiver)
    billing = _billing_provider(ts, header.billing)
    for claim in claims:
        _claim(ts, billing, claim)
    return ts


def _submitter(ts: TransactionBuilder, sub: Submitter, rec: Receiver) -> None:
    ts.segment("NM1", "41", "2", sub.name, None, None, None, None, "46", sub.id)
    contact: list[str | None] = ["IC", sub.contact or None]
    for qualifier, number in (("TE", sub.phone), ("EM", sub.email)):
        if number:
            contact += [qualifier, number]
    ts.segment("PER", *contact)
    ts.segment("NM1", "40", "2", rec.name, None, None, None, None, "46", rec.id)


def _address(ts: TransactionBuilder, address: Address) -> None:
    ts.segment("N3", *address.lines[:2])
    ts.segment("N4", address.city, address.state, address.postal_code)


def _billing_provider(ts: TransactionBuilder, bp: BillingProvider) -> Hl:
    hl = ts.hl(None, "20", child=True)
    if bp.taxonomy:
        ts.segment("PRV", "BI", "PXC", bp.taxonomy)
    ts.segment("NM1", "85", "2", bp.name, None, None, None, None, "XX", bp.npi)
    _address(ts, bp.address)
    ts.segment("REF", "EI", bp.tax_id)
    return hl


def _name(ts: TransactionBuilder, entity: str, p: Person, id_value: str = "") -> None:
    qualifier = "MI" if id_value else None
    ts.segment(
        "NM1",
        entity,
        "1",
        p.last,
        p.first or None,
        p.middle or None,
        None,
        p.suffix or None,
        qualifier,
        id_value or None,
    )


def _demographics(ts: TransactionBuilder, p: Person) -> None:
    if p.address is not None:
        _address(ts, p.address)
    if p.birth_date is not None:
        ts.segment("DMG", "D8", p.birth_date.strftime("%Y%m%d"), p.gender or "U")


def _claim(ts: TransactionBuilder, billing: Hl, c: Claim837) -> None:
    dependant = c.patient is not None
    subscriber_hl = ts.hl(billing, "22", child=dependant)
    ts.segment(
        "SBR",
        c.payer_responsibility,
        None if dependant else "18",
        c.group_number or None,
        None if c.group_number else (c.group_name or None),
        None,
        None,
        None,
        None,
        c.filing_indicator,
    )
    _name(ts, "IL", c.subscriber, c.member_id)
    if not dependant:
        _demographics(ts, c.subscriber)
    ts.segment("NM1", "PR", "2", c.payer.name, None, None, None, None, "PI", c.payer.id)
    if c.patient is not None:
        ts.hl(subscriber_hl, "23", child=False)
        ts.segment("PAT", c.relationship)
        _name(ts, "QC", c.patient)
        _demographics(ts, c.patient)
    _claim_information(ts, c)


def _claim_information(ts: TransactionBuilder, c: Claim837) -> None:
    ts.segment(
        "CLM",
        c.patient_control_number,
        c.total,
        None,
        None,
        (c.place_of_service, "B", c.frequency),
        "Y",
        "A",
        "Y",
        "Y",
    )
    if c.prior_authorization:
        ts.segment("REF", "G1", c.prior_authorization)
    if c.original_reference:
        ts.segment("REF", "F8", c.original_reference)
    codes = [icd10(d) for d in c.diagnoses[:MAX_DIAGNOSES]]
    ts.segment("HI", *[("ABK" if n == 0 else "ABF", code) for n, code in enumerate(codes)])
    if c.rendering is not None:
        r = c.rendering
        ts.segment("NM1", "82", "1", r.last, r.first or None, None, None, None, "XX", r.npi)
        if r.taxonomy:
            ts.segment("PRV", "PE", "PXC", r.taxonomy)
    for line in c.lines:
        _service_line(ts, line)


def _service_line(ts: TransactionBuilder, line: ServiceLine) -> None:
    ts.lx()
    procedure = ("HC", line.code, *line.modifiers[:4])
    ts.segment(
        "SV1",
        procedure,
        line.amount,
        "UN",
        line.units,
        None,
        None,
        tuple(line.pointers[:4]),
    )
    ts.segment("DTP", "472", "D8", line.service_date.strftime("%Y%m%d"))
    ts.segment("REF", "6R", line.control_number)
