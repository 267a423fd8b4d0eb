"""276 (005010X212, health care claim status request) from typed inputs.

Layout (X212 section 2.4): BHT (0010, 13 request, reference, date, time); 2000A information
source (the payer) ``HL*..*20`` with ``NM1*PR``; 2000B information receiver (the practice as
submitter, its ETIN) ``HL*..*21`` with ``NM1*41``; 2000C service provider ``HL*..*19`` with
``NM1*1P`` and the NPI; 2000D subscriber ``HL*..*22`` with DMG and ``NM1*IL``; then the claim
status tracking loop (2200D, or 2200E under a 2000E dependant ``HL*..*23`` with ``NM1*QC``):
``TRN*1`` trace, ``REF*1K`` payer claim control number when known, ``REF*EJ`` patient control
number (CLM01), ``AMT*T3`` total charge and ``DTP*472`` service dates (``RD8`` from-to).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from hub.adapters.x12.builder import GroupBuilder, TransactionBuilder
from hub.adapters.x12.claim_837p import Payer, Person
from hub.adapters.x12.eligibility_270 import Provider

IMPLEMENTATION = "005010X212"
FUNCTIONAL_ID = "HR"  # GS01 for 276


@dataclass(frozen=True, slots=True)
class Inquiry276:
    trace_number: str  # TRN02: echoed in the 277
    payer: Payer
    receiver_name: str  # 2100B: the practice as submitter
    receiver_id: str  # its ETIN (the partner's sender id)
    provider: Provider
    subscriber: Person
    member_id: str
    patient_control_number: str
    total: Decimal
    service_from: date
    service_to: date
    payer_claim_number: str = ""
    patient: Person | None = None  # None: the subscriber is the patient


def write_276(
    group: GroupBuilder,
    inquiry: Inquiry276,
    *,
    reference: str,
    created: datetime,
    control_number: int | None = None,
) -> TransactionBuilder:
    ts = group.transaction("276", control_number=control_number, implementation=IMPLEMENTATION)
    ts.segment("BHT", "0010", "13", reference, created.strftime("%Y%m%d"), created.strftime("%H%M"))
    source = ts.hl(None, "20", child=True)
    p = inquiry.payer
    ts.segment("NM1", "PR", "2", p.name, None, None, None, None, "PI", p.id)
    receiver = ts.hl(source, "21", child=True)
    ts.segment(
        "NM1", "41", "2", inquiry.receiver_name, None, None, None, None, "46", inquiry.receiver_id
    )
    provider = ts.hl(receiver, "19", child=True)
    pr = inquiry.provider
    ts.segment("NM1", "1P", "2", pr.name, None, None, None, None, "XX", pr.npi)
    dependant = inquiry.patient is not None
    subscriber = ts.hl(provider, "22", child=dependant)
    s = inquiry.subscriber
    if not dependant:
        _demographics(ts, s)
    ts.segment(
        "NM1",
        "IL",
        "1",
        s.last,
        s.first or None,
        s.middle or None,
        None,
        s.suffix or None,
        "MI",
        inquiry.member_id,
    )
    if inquiry.patient is not None:
        ts.hl(subscriber, "23", child=False)
        d = inquiry.patient
        _demographics(ts, d)
        ts.segment(
            "NM1", "QC", "1", d.last, d.first or None, d.middle or None, None, d.suffix or None
        )
    _claim(ts, inquiry)
    return ts


def _demographics(ts: TransactionBuilder, person: Person) -> None:
    if person.birth_date is not None:
        gender = person.gender if person.gender in ("F", "M") else None
        ts.segment("DMG", "D8", person.birth_date.strftime("%Y%m%d"), gender)


def _claim(ts: TransactionBuilder, inquiry: Inquiry276) -> None:
    ts.segment("TRN", "1", inquiry.trace_number)
    if inquiry.payer_claim_number:
        ts.segment("REF", "1K", inquiry.payer_claim_number)
    ts.segment("REF", "EJ", inquiry.patient_control_number)
    ts.segment("AMT", "T3", inquiry.total)
    start, end = inquiry.service_from, inquiry.service_to
    if start == end:
        ts.segment("DTP", "472", "D8", start.strftime("%Y%m%d"))
    else:
        ts.segment("DTP", "472", "RD8", f"{start:%Y%m%d}-{end:%Y%m%d}")
