"""Structural validation with hl7apy, for the processing stage (never on the ACK path: ~10 ms).

Modes (setting ``HUB_HL7_VALIDATION``, default ``tolerant``):

* ``off``: no structural validation;
* ``tolerant``: hl7apy checks segment order, cardinality and data types; what it finds is
  returned with severity W (warning), so processing goes on and the attempt records it;
* ``strict``: the same findings with severity E; a processor should fail the message on them.

A per-sender override is planned as a dict setting (sender -> mode) read by the processing
service; :func:`validate_structure` already takes the mode per call.

hl7apy is told the structure the hub derived from table 0354 (MSH-9.3 is rewritten before
parsing), because senders' MSH-9.3 is often wrong. Every exception hl7apy (or its internals) can
raise becomes a hub error here; its text is never kept, since it may quote message content.
"""

from __future__ import annotations

from typing import Literal

from hub.adapters.hl7v2.errors import TEXT_0357, error_for, location
from hub.errors import HubError, Location, Severity

Mode = Literal["off", "tolerant", "strict"]

# hl7apy exception class name -> HL7 table 0357 code.
_BY_CLASS: dict[str, int] = {
    "ParserError": 100,
    "InvalidEncodingChars": 100,
    "ChildNotFound": 100,
    "ChildNotValid": 100,
    "InvalidName": 100,
    "MaxChildLimitReached": 100,
    "OperationNotAllowed": 100,
    "UnsupportedVersion": 203,
    "MaxLengthReached": 102,
    "InvalidDataType": 102,
    "InvalidDateFormat": 102,
    "InvalidDateOffset": 102,
    "InvalidMicrosecondsPrecision": 102,
    "ValidationWarning": 102,
}


def validate_structure(
    raw_text: str, structure: str, version: str, mode: Mode = "tolerant"
) -> list[HubError]:
    """hl7apy's findings for one message as hub errors (empty when valid or ``mode`` is off)."""
    if mode == "off":
        return []
    severity = Severity.ERROR if mode == "strict" else Severity.WARNING
    text = _with_structure(_normalise(raw_text), structure)
    try:
        _run_hl7apy(text, strict=mode == "strict")
    except Exception as exc:  # hl7apy raises its own tree and bare built-ins: map them all
        return [translate(exc, severity)]
    return []


def _run_hl7apy(text: str, *, strict: bool) -> None:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message
    from hl7apy.validation import Validator

    level = VALIDATION_LEVEL.STRICT if strict else VALIDATION_LEVEL.TOLERANT
    message = parse_message(text, validation_level=level, find_groups=True)
    Validator.validate(message, reference=message.reference)


def translate(exc: BaseException, severity: Severity = Severity.ERROR) -> HubError:
    """A PHI-free hub error for an hl7apy exception (only its class and a structure path)."""
    name = type(exc).__name__
    number = _BY_CLASS.get(name)
    try:
        detail = str(exc)
    except Exception:  # some hl7apy exceptions cannot even format themselves
        detail = ""
    where: Location | None = None
    if number is None and type(exc).__module__.startswith("hl7apy"):
        if detail.startswith("Missing required child"):
            number = 101 if "_" in detail.rsplit(".", 1)[-1] else 100
        elif detail.startswith("Datatype"):
            number = 102
        else:
            number = 100
    if number is None:
        number = 207
    if number in (100, 101):
        where = _location_from(detail)
    text = f"{TEXT_0357[number]} (structure check: {name})"
    return error_for(number, text, where, severity)


def _location_from(detail: str) -> Location | None:
    """``Missing required child ADT_A01.PV1`` -> PV1; ``... PID.PID_3`` -> PID-3.

    Only names of the HL7 vocabulary shape are taken (upper-case segment ids, numbers), never
    free text, so no message content can leak into the error.
    """
    token = detail.rsplit(" ", 1)[-1].rsplit(".", 1)[-1]
    segment, _, number = token.partition("_")
    if len(segment) != 3 or not (segment.isascii() and segment.isalnum() and segment.isupper()):
        return None
    if number.isdigit():
        return location(segment, int(number))
    return location(segment) if not number else None


def _normalise(raw_text: str) -> str:
    text = raw_text.lstrip("\ufeff\r\n \t")
    if "\r" in text:
        return text.replace("\r\n", "\r")
    return text.replace("\n", "\r")


def _with_structure(text: str, structure: str) -> str:
    """Rewrite MSH-9.3 to ``structure`` so hl7apy picks the right message definition."""
    if not text.startswith("MSH") or len(text) < 8 or not structure:
        return text
    fs, comp = text[3], text[4]
    end = text.find("\r")
    header = text if end < 0 else text[:end]
    fields = header.split(fs)
    if len(fields) < 9:
        return text
    parts = fields[8].split(comp)
    if len(parts) < 2:
        return text
    fields[8] = comp.join([parts[0], parts[1], structure, *parts[3:]])
    return fs.join(fields) + ("" if end < 0 else text[end:])
