"""HL7 v2 data types (DTM, DT, CX, XPN, XAD, XTN, XCN, PL, CP) read into PM values.

Shared by the ADT, SIU and DFT mappings. Pure: no database, no clock. Errors name only a
location and a code (hub.errors; the code drives the ACK's HL7 table 0357 value), never the
offending value, which may be patient data.

Time (HL7 v2 section 2.A.22, DTM): ``YYYY[MM[DD[HH[MM[SS[.S{1,4}]]]]]][+/-ZZZZ]``. A value with
an offset is converted to UTC; a value without one is read in the practice's time zone, which
the caller passes (default UTC). Dates of birth and service dates stay calendar dates as written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal

from hub.adapters.hl7v2.fields import read_date, read_decimal, read_dtm
from hub.adapters.hl7v2.tokenizer import NULL, Message, Segment
from hub.errors import Hl7Location, Location, ValidationError
from hub.pm.changes import CLEAR, Identifier, LocationRef, PatientKey, ProviderRef

# HL7 table 0203 identifier types that mean "medical record number"
_MRN_TYPES = ("MR",)
# The NPI's OID (CMS) and the names senders use for it in XCN.9 / XCN.13 (table 0203 "NPI")
_NPI_NAMES = frozenset({"NPI", "NPIID", "2.16.840.1.113883.4.6", "CMS", "HCFA"})
LocationFactory = Callable[[int], Location]
__all__ = ["Location", "LocationFactory"]


def loc(
    segment: str,
    field: int,
    *,
    occurrence: int = 1,
    component: int | None = None,
    repetition: int | None = None,
) -> Hl7Location:
    """An ERR-2 style location; it reads like ``PID-3`` or ``FT1[2]-4``."""
    return Hl7Location(
        segment, sequence=occurrence, field=field, repetition=repetition, component=component
    )


def fail(code: str, what: str, where: Location) -> ValidationError:
    return ValidationError(what, code=code, location=where)


def opt(
    seg: Segment, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1
) -> str | None:
    """The value, or ``None`` when empty or the explicit null ``""``."""
    v = seg.get(field, component, subcomponent, repetition).strip()
    return None if not v or v == NULL else v


def nullable(
    seg: Segment, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1
) -> object:
    """``None`` when absent (leave as is), :data:`CLEAR` for ``""``, else the text."""
    v = seg.get(field, component, subcomponent, repetition).strip()
    if v == NULL:
        return CLEAR
    return v or None


def field_is_null(seg: Segment, field: int) -> bool:
    """The whole field is ``""`` (HL7 v2 section 2.5.3: delete the stored value)."""
    return seg.get(field) == NULL and seg.repetitions(field) <= 1 and not seg.get(field, 2)


def required(
    seg: Segment | None,
    name: str,
    field: int,
    component: int = 1,
    *,
    subcomponent: int = 1,
    occurrence: int = 1,
) -> str:
    value = opt(seg, field, component, subcomponent) if seg is not None else None
    if value is None:
        raise fail(
            "required_field_missing",
            f"{name}-{field} is required",
            loc(name, field, occurrence=occurrence),
        )
    return value


# The readers are the ones the ACK-path checks run (hub.adapters.hl7v2.fields), so a value
# refused here was already refused in the ACK.
def parse_dtm(value: str, where: Location, tz: tzinfo = UTC) -> datetime:
    return read_dtm(value, where, tz)


def parse_date(value: str, where: Location) -> date:
    """The calendar date as written (a DTM's date part; its time and offset are ignored)."""
    return read_date(value, where)


def opt_dtm(
    seg: Segment, field: int, tz: tzinfo, *, component: int = 1, occurrence: int = 1
) -> object:
    v = nullable(seg, field, component)
    if isinstance(v, str):
        return parse_dtm(v, loc(seg.name, field, occurrence=occurrence), tz)
    return v


def opt_date(seg: Segment, field: int, *, component: int = 1, occurrence: int = 1) -> object:
    v = nullable(seg, field, component)
    if isinstance(v, str):
        return parse_date(v, loc(seg.name, field, occurrence=occurrence))
    return v


def parse_decimal(value: str, where: Location, *, positive: bool = False) -> Decimal:
    return read_decimal(value, where, positive=positive)


def sending_facility(msg: Message) -> str:
    """MSH-4.1, the namespace of the sender's MRNs and appointment ids (lane key part 1)."""
    msh = msg.first("MSH")
    return opt(msh, 4) or "" if msh is not None else ""


def identifiers(seg: Segment, field: int) -> tuple[Identifier, ...]:
    """Every CX repetition with a value: CX.1 id, CX.4.1 authority (else its OID), CX.5 type."""
    out: list[Identifier] = []
    for r in range(1, seg.repetitions(field) + 1):
        value = opt(seg, field, 1, 1, r)
        if value is None:
            continue
        authority = opt(seg, field, 4, 1, r) or opt(seg, field, 4, 2, r) or ""
        out.append(Identifier(value, authority, opt(seg, field, 5, 1, r) or ""))
    return tuple(out)


def mrn_of(ids: tuple[Identifier, ...]) -> str | None:
    """The MRN: the first identifier typed MR (table 0203), else the first one. The same rule
    computes the lane key at ingest, so one patient's messages share a lane."""
    for ident in ids:
        if ident.type_code.upper() in _MRN_TYPES:
            return ident.value
    return ids[0].value if ids else None


def patient_key(
    msg: Message, seg: Segment, field: int = 3
) -> tuple[PatientKey, tuple[Identifier, ...]]:
    ids = identifiers(seg, field)
    mrn = mrn_of(ids)
    if mrn is None:
        raise fail(
            "required_field_missing", f"{seg.name}-{field} is required", loc(seg.name, field)
        )
    return PatientKey(sending_facility(msg), mrn), ids


def provider(seg: Segment, field: int, repetition: int = 1) -> ProviderRef | None:
    """An XCN as a provider: an NPI when XCN.9 (authority) or XCN.13 (type) says so and the id
    has 10 digits, else the sender's local id."""
    ident = opt(seg, field, 1, 1, repetition)
    family = opt(seg, field, 2, 1, repetition) or ""
    if ident is None and not family:
        return None
    marks = {opt(seg, field, 9, s, repetition) or "" for s in (1, 2)}
    marks.add(opt(seg, field, 13, 1, repetition) or "")
    is_npi = bool(marks & _NPI_NAMES) and ident is not None and len(ident) == 10 and ident.isdigit()
    return ProviderRef(
        npi=ident if is_npi else None,
        local_id=None if is_npi else ident,
        family_name=family,
        given_name=opt(seg, field, 3, 1, repetition) or "",
        suffix=opt(seg, field, 5, 1, repetition),
        prefix=opt(seg, field, 6, 1, repetition),
    )


def location(seg: Segment, field: int, facility: str) -> LocationRef | None:
    """A PL: point of care / room / bed joined as the code, PL.4 facility (else the sender's),
    PL.9 description as the name."""
    parts = [opt(seg, field, c) for c in (1, 2, 3)]
    code = "/".join(p for p in parts if p)
    if not code:
        return None
    where = opt(seg, field, 4) or facility
    return LocationRef(where, code, opt(seg, field, 9) or code)
