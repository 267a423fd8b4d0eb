"""270 (005010X279A1, eligibility, coverage or benefit inquiry) from typed inputs.

Layout (X279A1 section 2.4): BHT (0022 information source/receiver, 13 request, reference,
date, time); 2000A information source (the payer) ``HL*..*20`` with ``NM1*PR``; 2000B
information receiver (the practice) ``HL*..*21`` with ``NM1*1P`` and its NPI; 2000C subscriber
``HL*..*22`` with ``NM1*IL`` and the member id; when the patient is the subscriber, the
subscriber loop carries the trace (``TRN*1``), DMG, the date asked about (``DTP*291``) and the
benefit question (``EQ*30``, health benefit plan coverage); when the patient is a dependant, a
2000D ``HL*..*23`` loop carries them with ``NM1*03``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from hub.adapters.x12.builder import GroupBuilder, TransactionBuilder
from hub.adapters.x12.claim_837p import Payer, Person

IMPLEMENTATION = "005010X279A1"
FUNCTIONAL_ID = "HS"  # GS01 for 270
SERVICE_TYPE = "30"  # EQ01: health benefit plan coverage


@dataclass(frozen=True, slots=True)
class Provider:
    """The information receiver: the practice (an organisation) with its NPI."""

    name: str
    npi: str


@dataclass(frozen=True, slots=True)
class Inquiry270:
    trace_number: str  # TRN02: how the 271 is matched back
    originator: str  # TRN03: 1 + the practice's EIN (10 characters)
    payer: Payer
    provider: Provider
    subscriber: Person
    member_id: str
    as_of: date  # DTP*291
    patient: Person | None = None  # None: the subscriber is the patient
    service_types: tuple[str, ...] = (SERVICE_TYPE,)


def write_270(
    group: GroupBuilder,
    inquiry: Inquiry270,
    *,
    reference: str,
    created: datetime,
    control_number: int | None = None,
) -> TransactionBuilder:
    ts = group.transaction("270", control_number=control_number, implementation=IMPLEMENTATION)
    ts.segment("BHT", "0022", "13", reference, created.strftime("%Y%m%d"), created.strftime("%H%M"))
    source = ts.hl(None, "20", child=True)
    p = inquiry.payer
    ts.segment("NM1", "PR", "2", p.name, None, None, None, None, "PI", p.id)
    receiver = ts.hl(source, "21", child=True)
    pr = inquiry.provider
    ts.segment("NM1", "1P", "2", pr.name, None, None, None, None, "XX", pr.npi)
    dependant = inquiry.patient is not None
    subscriber = ts.hl(receiver, "22", child=dependant)
    s = inquiry.subscriber
    if not dependant:
        _trace(ts, inquiry)
    ts.segment(
        "NM1",
        "IL",
        "1",
        s.last or None,
        s.first or None,
        s.middle or None,
        None,
        s.suffix or None,
        "MI",
        inquiry.member_id,
    )
    if not dependant:
        _question(ts, s, inquiry)
        return ts
    assert inquiry.patient is not None
    ts.hl(subscriber, "23", child=False)
    _trace(ts, inquiry)
    d = inquiry.patient
    ts.segment("NM1", "03", "1", d.last, d.first or None, d.middle or None, None, d.suffix or None)
    _question(ts, d, inquiry)
    return ts


def _trace(ts: TransactionBuilder, inquiry: Inquiry270) -> None:
    ts.segment("TRN", "1", inquiry.trace_number, inquiry.originator)


def _question(ts: TransactionBuilder, person: Person, inquiry: Inquiry270) -> None:
    if person.birth_date is not None:
        gender = person.gender if person.gender in ("F", "M") else None
        ts.segment("DMG", "D8", person.birth_date.strftime("%Y%m%d"), gender)
    ts.segment("DTP", "291", "D8", inquiry.as_of.strftime("%Y%m%d"))
    for service_type in inquiry.service_types:
        ts.segment("EQ", service_type)
