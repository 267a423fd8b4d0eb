"""TA1 and 999 for inbound files that fail (the one place X12 errors become an answer).

* :func:`ta1` answers an interchange: ``A`` with note 000, ``E``/``R`` with the TA105 note
  code of the :class:`~hub.adapters.x12.errors.InterchangeError` (X12.5 TA1 segment).
* :func:`ack_999` answers each functional group of an :class:`EnvelopeReport` (005010X231A1):
  AK1 (GS01, GS06, GS08), per set AK2 (ST01, ST02, ST03), IK3 (segment id, position in the set,
  IK304) and IK4 (element position, IK403) for located segment errors, IK5 (A or R with up to
  five IK502 codes), and AK9 (A/P/R, sets included / received / accepted, AK905 codes).

The answer goes back to the sender: its ISA/GS parties are the inbound ones swapped. Its ISA13
comes from the caller (a per-partner sequence), never from the inbound file. Error texts are
not copied into the answer: codes and positions only (no patient data leaves in a 999).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.adapters.x12 import errors as e
from hub.adapters.x12.builder import InterchangeBuilder, Party, TransactionBuilder
from hub.adapters.x12.delimiters import Delimiters
from hub.adapters.x12.headers import ID_QUALIFIERS, InterchangeHeader
from hub.adapters.x12.report import EnvelopeReport, GroupResult, SetResult
from hub.adapters.x12.tokenizer import Segment
from hub.errors import X12Location

ACK_GUIDE = "005010X231A1"
_MAX_CODES = 5  # IK502..IK506 and AK905..AK909


@dataclass(frozen=True, slots=True)
class AnsweredIsa:
    """What a TA1 needs of the inbound ISA (read loosely when the ISA itself is broken)."""

    control_number: str  # ISA13
    date: str  # ISA09
    time: str  # ISA10
    sender: Party  # ISA05/ISA06: the answer's receiver
    receiver: Party  # ISA07/ISA08: the answer's sender
    usage: str = "P"

    @classmethod
    def from_header(cls, h: InterchangeHeader) -> AnsweredIsa:
        return cls(
            h.control_number,
            h.date,
            h.time,
            Party(h.sender_qualifier, h.sender_id),
            Party(h.receiver_qualifier, h.receiver_id),
            h.usage,
        )

    @classmethod
    def from_segment(cls, seg: Segment) -> AnsweredIsa | None:
        return cls.loose(seg.render())

    @classmethod
    def loose(cls, text: str) -> AnsweredIsa | None:
        """Best effort on an ISA whose widths or values are wrong: its elements by the
        separator after ``ISA``; None when the parties or ISA13 cannot be told, or could not
        be written in the answer's own ISA (a qualifier not in element I05, an id that is not
        printable ASCII or holds one of the answer's delimiters)."""
        if not text.startswith("ISA") or len(text) < 4:
            return None
        parts = [p.strip() for p in text[:200].split(text[3])]
        if len(parts) < 14:
            return None
        control, date, time = parts[13], parts[9], parts[10]
        qualifiers_ok = parts[5] in ID_QUALIFIERS and parts[7] in ID_QUALIFIERS
        ids_ok = all(_writable_id(p) for p in (parts[6], parts[8]))
        if not (control.isdigit() and len(control) <= 9 and qualifiers_ok and ids_ok):
            return None
        usage = parts[15][:1] if len(parts) > 15 and parts[15][:1] in ("P", "T") else "P"
        return cls(
            control.zfill(9),
            date if date.isdigit() and len(date) == 6 else "000000",
            time if time.isdigit() and len(time) == 4 else "0000",
            Party(parts[5][:2], parts[6]),
            Party(parts[7][:2], parts[8]),
            usage,
        )


def _writable_id(value: str) -> bool:
    """An ISA06/ISA08 the answer can carry: 1-15 printable ASCII, none of its delimiters."""
    answer = Delimiters().all()
    return (
        0 < len(value) <= 15
        and value.isascii()
        and value.isprintable()
        and not any(c in answer for c in value)
    )


def _reply(answered: AnsweredIsa, control_number: int, now: datetime) -> InterchangeBuilder:
    return InterchangeBuilder(
        sender=answered.receiver,
        receiver=answered.sender,
        control_number=control_number,
        timestamp=now,
        usage=answered.usage,
        delimiters=Delimiters(),
    )


def ta1(
    answered: AnsweredIsa,
    *,
    control_number: int,
    now: datetime,
    error: e.InterchangeError | None = None,
) -> bytes:
    """A TA1 interchange: accepted (``A``, 000) without ``error``, rejected (``R``) with it."""
    ib = _reply(answered, control_number, now)
    status, note = ("R", error.ta1_code) if error is not None else ("A", "000")
    ib.ta1(answered.control_number, answered.date, answered.time, status, note)
    return ib.to_bytes()


def _set_response(ts: TransactionBuilder, result: SetResult) -> bool:
    """AK2..IK5 for one set; True when the set is accepted."""
    h = result.header
    ts.segment("AK2", h.set_id, h.control_number, h.implementation or None)
    codes: list[str] = []
    for error in result.errors:
        where = error.location
        if isinstance(error, e.SegmentError) and isinstance(where, X12Location):
            ts.segment("IK3", where.segment_id, where.segment_position, where.loop_id, error.ik304)
            if error.ik403 is not None and where.element_position is not None:
                element = (
                    (where.element_position, where.component)
                    if where.component
                    else where.element_position
                )
                ts.segment("IK4", element, None, error.ik403, error.bad_value)
        if error.ik502 not in codes:
            codes.append(error.ik502)
    accepted = not codes
    ts.segment("IK5", "A" if accepted else "R", *codes[:_MAX_CODES])
    return accepted


def _group_response(ib: InterchangeBuilder, group: GroupResult, sender_id: str) -> None:
    h = group.header
    reply = ib.group(
        "FA", ACK_GUIDE, sender_id=h.receiver_id or sender_id, receiver_id=h.sender_id or "UNKNOWN"
    )
    ts = reply.transaction("999", implementation=ACK_GUIDE)
    ts.segment("AK1", h.functional_id, h.control_number, h.version or None)
    accepted = sum(_set_response(ts, s) for s in group.sets)
    codes = list(dict.fromkeys(x.ak905 for x in group.errors))[:_MAX_CODES]
    received = len(group.sets)
    ts.segment("AK9", group.ak901, received, received, accepted, *codes)


def ack_999(
    report: EnvelopeReport,
    *,
    control_number: int,
    now: datetime,
) -> bytes | None:
    """One 999 per functional group of the report's first interchange, in one interchange
    back to its sender (None when the report holds no group to answer).

    A 999 acknowledges syntax: a well-formed set beside a broken one is ``IK5*A`` and the
    group ``P``. Whether the receiver then takes the rest of the file is its own rule (the
    hub holds the whole file back, so an 835 is never posted in part)."""
    if not report.interchanges or not report.interchanges[0].groups:
        return None
    first = report.interchanges[0]
    answered = AnsweredIsa.from_header(first.header)
    ib = _reply(answered, control_number, now)
    for group in first.groups:
        _group_response(ib, group, first.header.receiver_id)
    return ib.to_bytes()
