"""The one place hub errors become HL7 error codes (HL7 table 0357) and ACK codes.

Every check in the HL7 v2 adapter raises or returns a :class:`hub.errors.HubError` whose ``code``
is one of the names in :data:`CODES_0357`; :func:`code_0357` turns any hub error (also one from a
processor or the store) into the 0357 number the ERR segment carries, and :func:`ack_code` picks
MSA-1 for a list of errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.errors import (
    Conflict,
    Hl7Location,
    HubError,
    Location,
    ParseError,
    Severity,
    UnsupportedError,
    ValidationError,
)

# Hub error code name -> HL7 table 0357 (message error condition codes).
CODES_0357: dict[str, int] = {
    "segment_sequence": 100,
    "required_field_missing": 101,
    "data_type": 102,
    "table_value": 103,
    "unsupported_message_type": 200,
    "unsupported_event": 201,
    "unsupported_processing_id": 202,
    "unsupported_version": 203,
    "unknown_key": 204,
    "duplicate_key": 205,
    "record_locked": 206,
    "internal": 207,
}

TEXT_0357: dict[int, str] = {
    0: "Message accepted",
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    206: "Application record locked",
    207: "Application internal error",
}

_NAME_BY_NUMBER = {number: name for name, number in CODES_0357.items()}
# 200-203 say "this receiver does not take this kind of message": MSA-1 AR (v2.5 section 2.9.2).
_REJECT = frozenset({200, 201, 202, 203})


def code_0357(error: HubError) -> int:
    """The table 0357 code for any hub error: by its code name, else by its class."""
    number = CODES_0357.get(error.code)
    if number is not None:
        return number
    if error.code == "no_processor":
        return 200
    if isinstance(error, ParseError):
        return 100
    if isinstance(error, ValidationError):
        return 101
    if isinstance(error, UnsupportedError):
        return 200
    if isinstance(error, Conflict):
        return 205
    return 207


def ack_code(errors: Sequence[HubError]) -> str:
    """MSA-1 in original mode: AR for unparseable or unsupported, AE for errors, else AA."""
    if any(isinstance(e, ParseError) or code_0357(e) in _REJECT for e in errors):
        return "AR"
    if any(e.severity in (Severity.ERROR, Severity.FATAL) for e in errors):
        return "AE"
    return "AA"


def enhanced_code(code: str) -> str:
    """Original-mode MSA-1 -> enhanced-mode accept acknowledgment (CA/CE/CR, table 0008)."""
    return "C" + code[1]


def location(
    segment: str,
    field: int | None = None,
    component: int | None = None,
    subcomponent: int | None = None,
    sequence: int = 1,
) -> Hl7Location:
    """A location in HL7 notation: ``PID-3``, ``SCH-11.4`` (the sequence goes to ERR-2 only)."""
    return Hl7Location(
        segment,
        sequence=sequence,
        field=field,
        component=component,
        subcomponent=subcomponent,
        sequence_in_text=False,
    )


def error_for(
    number: int, message: str, where: Location | None = None, severity: Severity = Severity.ERROR
) -> HubError:
    """A hub error of the right class for a table 0357 code (used by checks and ACK reading)."""
    name = _NAME_BY_NUMBER.get(number, "internal")
    cls: type[HubError]
    if number < 200:
        cls = ValidationError
    elif number in _REJECT:
        cls = UnsupportedError
    elif number == 205:
        cls = Conflict
    else:
        cls = HubError
    return cls(message, code=name, location=where, severity=severity)
