"""Light validation on the ACK path: microseconds, no hl7apy (structural checks run later).

Checked, in this order, each answered with its HL7 table 0357 code:

* MSH-12 version in 2.1 to 2.8.2, else 203 (AR); MSH-11 processing id P/D/T, else 202 (AR);
* MSH-9 message code and trigger among the processors registered for ``hl7v2``, else 200 / 201;
* MSH-10 message control id present, else 101 (AR: without it the hub can neither answer in
  MSA-2 nor tell a resend from a new message);
* the fields the PM mappings need, by one rule set shared with the mappings
  (:mod:`hub.adapters.hl7v2.fields`): required values (101, or 100 for a missing segment),
  dates and date/times (102), numbers (102) and coded values (103), all AE.
"""

from __future__ import annotations

from collections.abc import Collection

from hub.adapters.hl7v2.errors import error_for, location
from hub.adapters.hl7v2.fields import check_fields, read_dtm
from hub.adapters.hl7v2.tokenizer import NULL, Message
from hub.errors import HubError, ParseError, ValidationError

SUPPORTED_VERSIONS = frozenset(
    {
        "2.1",
        "2.2",
        "2.3",
        "2.3.1",
        "2.4",
        "2.5",
        "2.5.1",
        "2.6",
        "2.7",
        "2.7.1",
        "2.8",
        "2.8.1",
        "2.8.2",
    }
)
PROCESSING_IDS = frozenset({"P", "D", "T"})  # HL7 table 0103


def check(msg: Message, supported: Collection[str]) -> list[HubError]:
    """Errors found; an empty list means ACK AA. ``supported`` holds ``CODE^TRIGGER`` keys as
    registered (``ADT^A01``, ``ADT^*`` for a whole family, ``*`` for everything)."""
    found = (_check_header(msg, supported), _check_control_id(msg))
    header = [e for e in found if e is not None]
    if header:
        return header
    return check_fields(msg)


def _check_control_id(msg: Message) -> HubError | None:
    if msg.control_id.strip() not in ("", NULL):
        return None
    # A ParseError so that MSA-1 is AR (v2.5 section 2.9.2: the header cannot be accepted);
    # its code still renders as table 0357 code 101.
    return ParseError(
        "message control id missing", code="required_field_missing", location=location("MSH", 10)
    )


def _check_header(msg: Message, supported: Collection[str]) -> HubError | None:
    version = msg.version
    if version not in SUPPORTED_VERSIONS:
        return error_for(203, "unsupported HL7 version", location("MSH", 12, 1))
    processing = msg.processing_id
    if processing and processing not in PROCESSING_IDS:
        return error_for(202, "unsupported processing id", location("MSH", 11, 1))
    if "*" in supported:
        return None
    code, trigger = msg.message_code, msg.trigger
    if f"{code}^*" in supported or f"{code}^{trigger}" in supported:
        return None
    if not any(key.split("^", 1)[0] == code for key in supported):
        return error_for(200, f"unsupported message type {code[:8]}", location("MSH", 9, 1))
    return error_for(201, f"unsupported event {code[:8]}^{trigger[:8]}", location("MSH", 9, 2))


def valid_dtm(value: str) -> bool:
    """HL7 DTM (v2.5 section 2.A.22; TS component 1 before v2.6), with an optional offset."""
    try:
        read_dtm(value, location("MSH"))
    except ValidationError:
        return False
    return True
