"""Envelope headers (ISA, GS, ST) read into typed values, with the ISA field checks a TA1
reports (X12.5 interchange control structures; TA105 note codes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.adapters.x12 import errors as e
from hub.adapters.x12.delimiters import Delimiters
from hub.adapters.x12.tokenizer import Segment
from hub.errors import X12Location

SUPPORTED_VERSION = "00501"
# ISA05 / ISA07 interchange id qualifiers (element I05)
ID_QUALIFIERS = frozenset({"01", "14", "20", "27", "28", "29", "30", "33", "ZZ"})

# The transaction sets the hub reads or writes (ST01). Others are answered IK502 1.
SUPPORTED_SETS = frozenset({"270", "271", "276", "277", "835", "837", "997", "999"})


@dataclass(frozen=True, slots=True)
class InterchangeHeader:
    """ISA: who sent the interchange to whom, and its control number (ISA13)."""

    sender_qualifier: str  # ISA05
    sender_id: str  # ISA06, trailing padding removed
    receiver_qualifier: str  # ISA07
    receiver_id: str  # ISA08, trailing padding removed
    date: str  # ISA09 YYMMDD
    time: str  # ISA10 HHMM
    version: str  # ISA12
    control_number: str  # ISA13, nine digits as sent
    ack_requested: str  # ISA14: "1" asks for a TA1
    usage: str  # ISA15: P production, T test
    delimiters: Delimiters
    position: int

    @property
    def test(self) -> bool:
        return self.usage == "T"


@dataclass(frozen=True, slots=True)
class GroupHeader:
    """GS: functional group of one kind of transaction set (GS01 HC, HP, FA...)."""

    functional_id: str  # GS01
    sender_id: str  # GS02
    receiver_id: str  # GS03
    date: str  # GS04 CCYYMMDD
    time: str  # GS05
    control_number: str  # GS06
    agency: str  # GS07
    version: str  # GS08, e.g. 005010X221A1
    position: int


@dataclass(frozen=True, slots=True)
class TransactionHeader:
    """ST with the envelopes around it: everything a reader needs to know about its set."""

    interchange: InterchangeHeader
    group: GroupHeader
    set_id: str  # ST01
    control_number: str  # ST02
    implementation: str  # ST03, or GS08 when ST03 is absent
    position: int  # of the ST segment in the file
    offset: int

    @property
    def kind(self) -> str:
        """``835``, ``837P``, ``277CA``...: see :func:`transaction_kind`."""
        return transaction_kind(self.set_id, self.implementation)


def transaction_kind(set_id: str, implementation: str) -> str:
    """The name billing offices use: 837 splits by guide (X222 professional ``837P``, X223
    institutional ``837I``, X224 dental ``837D``); a 277 under X214 is the claim
    acknowledgment ``277CA``; other sets keep their number."""
    guide = implementation.upper()
    if set_id == "837":
        for marker, suffix in (("X222", "P"), ("X223", "I"), ("X224", "D")):
            if marker in guide:
                return "837" + suffix
    if set_id == "277" and "X214" in guide:
        return "277CA"
    return set_id


def _fail(message: str, code: str, seg: Segment, element: int | None = None) -> e.InterchangeError:
    return e.InterchangeError(
        message, ta1_code=code, location=X12Location("ISA", seg.position, None, element)
    )


def _valid_date(value: str, pattern: str) -> bool:
    try:
        datetime.strptime(value, pattern)
    except ValueError:
        return False
    return True


def interchange_header(seg: Segment) -> InterchangeHeader:
    """Read and check an ISA (its widths and delimiters were checked by the tokenizer)."""
    v = seg.element
    checks = (
        (v(1) in ("00", "03"), "ISA01 authorization qualifier", e.TA1_AUTHORIZATION_QUALIFIER, 1),
        (v(3) in ("00", "01"), "ISA03 security qualifier", e.TA1_SECURITY_QUALIFIER, 3),
        (v(5) in ID_QUALIFIERS, "ISA05 sender id qualifier", e.TA1_SENDER_QUALIFIER, 5),
        (bool(v(6).strip()), "ISA06 sender id", e.TA1_SENDER_ID, 6),
        (v(7) in ID_QUALIFIERS, "ISA07 receiver id qualifier", e.TA1_RECEIVER_QUALIFIER, 7),
        (bool(v(8).strip()), "ISA08 receiver id", e.TA1_RECEIVER_ID, 8),
        (v(9).isdigit() and _valid_date(v(9), "%y%m%d"), "ISA09 date", e.TA1_DATE, 9),
        (v(10).isdigit() and _valid_date(v(10), "%H%M"), "ISA10 time", e.TA1_TIME, 10),
        (v(12).isdigit(), "ISA12 version", e.TA1_VERSION_ID, 12),
        (v(13).isdigit(), "ISA13 control number", e.TA1_CONTROL_NUMBER, 13),
        (v(14) in ("0", "1"), "ISA14 acknowledgment requested", e.TA1_ACK_REQUESTED, 14),
        (v(15) in ("P", "T"), "ISA15 usage indicator", e.TA1_TEST_INDICATOR, 15),
    )
    for ok, what, code, element in checks:
        if not ok:
            raise _fail(f"invalid {what}", code, seg, element)
    if v(12) != SUPPORTED_VERSION:
        raise _fail(
            f"ISA12 version {v(12)} is not supported (only {SUPPORTED_VERSION})",
            e.TA1_VERSION_NOT_SUPPORTED,
            seg,
            12,
        )
    return InterchangeHeader(
        sender_qualifier=v(5),
        sender_id=v(6).rstrip(),
        receiver_qualifier=v(7),
        receiver_id=v(8).rstrip(),
        date=v(9),
        time=v(10),
        version=v(12),
        control_number=v(13),
        ack_requested=v(14),
        usage=v(15),
        delimiters=seg.delimiters,
        position=seg.position,
    )


def group_header(seg: Segment) -> GroupHeader:
    v = seg.element
    return GroupHeader(v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), seg.position)
