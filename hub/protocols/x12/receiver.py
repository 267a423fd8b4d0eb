"""Inbound X12: the envelope peek, the TA1/999 answer, and a receiver that says what it stored.

Every file is walked once by :func:`hub.adapters.x12.report.check` before it is stored: the
type is read from the envelope (``835``, ``277CA``, ``999``, ``TA1``...; several kinds joined
with ``+``), the sender is ISA06 (GS02 is kept in ``meta``), the control id is ISA13. A file
with any envelope error is stored as rejected, whole: nothing in it is processed, so an 835 is
never posted in part. Its answer is a TA1 (interchange errors, note code TA105) or a 999
(group and transaction set errors, with IK3/IK4 locations). A good file is answered only when
its ISA14 asks for a TA1.

The core's duplicate rules apply with (ISA06, ISA13) as the control id: a byte-identical resend
(BOM and line breaks aside) gets the original answer and is not processed again; the same
ISA13 from the same sender with other bytes is stored and held for review, answered with a TA1
note 025 (duplicate interchange control number).

Answers are interchanges of their own: their ISA13 comes from the partner's interchange
sequence (:meth:`PmRepository.next_control_number`), drawn before the storing transaction so
that transaction stays short; a number drawn for an answer that was not needed is a gap, never
a reuse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from hub.adapters.x12 import errors as e
from hub.adapters.x12.acks import AnsweredIsa, ack_999, ta1
from hub.adapters.x12.report import EnvelopeReport, check
from hub.adapters.x12.tokenizer import BOM, Limits
from hub.errors import Conflict, Forbidden, HubError, X12Location
from hub.pm.enums import ControlNumberKind
from hub.protocols.contract import Core
from hub.services.ingest import Inbound, IngestOutcome, Stored
from hub.services.origin import Origin
from hub.services.receive import IngestAdapter, Inspection, Receiver
from hub.store.partners import list_partners
from hub.store.pm_repo import SqlPm, Stamp

log = logging.getLogger(__name__)

PROTOCOL = "x12"
CONTROL_ID_AT = X12Location("ISA", 1, None, 13)
SENDER_AT = X12Location("ISA", 1, None, 6)


@dataclass(frozen=True, slots=True)
class X12Document:
    """What the peek learned: the envelope report and whom an answer would go to."""

    report: EnvelopeReport
    answered: AnsweredIsa | None
    answer_number: int | None = None  # ISA13 drawn for this document's answer, if any
    answered_at: datetime | None = None  # when the answer is made (the hub's clock)


def document_type(report: EnvelopeReport) -> str:
    """``835``; ``277CA+999`` for a file of several kinds; ``""`` when none could be read."""
    return "+".join(sorted(report.kinds()))


def _first_error(report: EnvelopeReport) -> HubError | None:
    if report.error is not None:
        return report.error
    found = report.errors()
    return found[0] if found else None


def _meta(report: EnvelopeReport) -> dict[str, Any]:
    groups = [
        {
            "functional_id": g.header.functional_id,
            "sender": g.header.sender_id,
            "receiver": g.header.receiver_id,
            "control_number": g.header.control_number,
            "version": g.header.version,
            "sets": len(g.sets),
            "ak901": g.ak901,
        }
        for i in report.interchanges
        for g in i.groups
    ]
    first = report.interchanges[0].header if report.interchanges else None
    return {
        "sets": dict(report.kinds()),
        "interchanges": [i.header.control_number for i in report.interchanges],
        "groups": groups,
        "usage": first.usage if first else None,
        "errors": [
            {"code": x.code, "text": x.message, "location": str(x.location or "")}
            for x in report.errors()[:20]
        ],
    }


def canonical(raw: bytes) -> bytes:
    """The bytes duplicates are compared by: without a BOM and without line breaks between
    segments (X12 data never holds CR or LF unless one is the segment terminator)."""
    data = raw[len(BOM) :] if raw.startswith(BOM) else raw
    if len(data) > 105 and data[105:106] in (b"\r", b"\n"):
        return data  # a line break is the terminator itself: keep every byte
    return data.replace(b"\r", b"").replace(b"\n", b"")


def _ack_999(
    report: EnvelopeReport, answered: AnsweredIsa, number: int, now: datetime
) -> bytes | None:
    """The 999; a TA1 with note 024 (invalid interchange content) when a value the 999 must
    echo (GS01/GS06/GS08, ST01..ST03) holds a delimiter or a control character."""
    try:
        return ack_999(report, control_number=number, now=now)
    except e.BuildError:
        content = e.InterchangeError(
            "a value the 999 must echo cannot be written", ta1_code=e.TA1_INVALID_CONTENT
        )
        return ta1(answered, control_number=number, now=now, error=content)


def _answer(
    document: X12Document, answered: AnsweredIsa, number: int, errors: Sequence[HubError]
) -> bytes | None:
    now = document.answered_at or datetime.now(UTC)
    for error in errors:
        if isinstance(error, Conflict) and error.code == "duplicate_key":
            duplicate = e.InterchangeError(
                "duplicate interchange control number", ta1_code=e.TA1_DUPLICATE
            )
            return ta1(answered, control_number=number, now=now, error=duplicate)
        if isinstance(error, Forbidden):
            refused = e.InterchangeError("sender not allowed", ta1_code=e.TA1_SENDER_ID)
            return ta1(answered, control_number=number, now=now, error=refused)
    report = document.report
    if report.error is not None:
        return ta1(answered, control_number=number, now=now, error=report.error)
    if not report.ok:
        return _ack_999(report, answered, number, now)
    if report.interchanges and report.interchanges[0].header.ack_requested == "1":
        return ta1(answered, control_number=number, now=now)
    return None


class X12Intake:
    """The protocol's part of receiving (see the module docstring)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def inspect(self, raw: bytes) -> Inspection[X12Document]:
        report = check(raw, limits=self.limits)
        first = report.interchanges[0].header if report.interchanges else None
        answered: AnsweredIsa | None
        if first is not None:
            answered = AnsweredIsa.from_header(first)
        elif report.error is not None and report.error.isa is not None:
            answered = AnsweredIsa.from_segment(report.error.isa)
        else:
            answered = AnsweredIsa.loose(raw[:300].lstrip(BOM).decode("latin-1"))
        rejected = _first_error(report)
        groups = report.interchanges[0].groups if report.interchanges else []
        gs02 = groups[0].header.sender_id if groups else ""
        sender = first.sender_id if first else (answered.sender.id if answered else "")
        inbound = Inbound(
            protocol=PROTOCOL,
            raw=raw,
            sender=sender,
            # one partner's files split in arrival order (ADR 0009), so a later 835's item for
            # a claim is queued behind an earlier 277CA's item for it, whichever worker splits
            lane_keys=(f"split:x12:{sender.strip()}",) if sender.strip() else (),
            receiver=first.receiver_id if first else (answered.receiver.id if answered else ""),
            control_id=first.control_number if first else "",
            type=document_type(report),
            meta={**_meta(report), "gs02": gs02},
            rejected=rejected,
            canonical=canonical(raw),
        )
        errors = (rejected,) if rejected is not None else ()
        return Inspection(inbound, X12Document(report, answered), errors)

    def render(
        self, document: X12Document | None, errors: Sequence[HubError], message_id: int
    ) -> bytes | None:
        """The TA1 or 999 (None when no answer is due or none can be addressed)."""
        del message_id
        if document is None or document.answered is None or document.answer_number is None:
            return None
        try:
            return _answer(document, document.answered, document.answer_number, errors)
        except e.BuildError:
            # the inbound's parties cannot be written back in X12 (an id holding one of the
            # answer's delimiters): no answer can be addressed; the file is stored refused
            log.warning("x12: no answer can be addressed to this sender")
            return None

    def adapter(self) -> IngestAdapter[X12Document]:
        return IngestAdapter(
            inspect=self.inspect,
            render=self.render,
            control_id_at=CONTROL_ID_AT,
            sender_at=SENDER_AT,
        )


@dataclass(frozen=True, slots=True)
class Submission:
    """What one file became: the stored record's id and outcome, the answer, and the peek."""

    stored: Stored
    inspection: Inspection[X12Document]

    @property
    def message_id(self) -> int:
        return self.stored.message_id

    @property
    def outcome(self) -> IngestOutcome:
        return self.stored.outcome

    @property
    def reason(self) -> str:
        """Why the file was not taken (empty when it was)."""
        inbound = self.inspection.inbound
        if self.outcome is IngestOutcome.REJECTED and inbound.rejected is not None:
            return str(inbound.rejected)
        if self.outcome is IngestOutcome.HELD:
            return (
                f"[duplicate_interchange] interchange control number {inbound.control_id} from "
                f"{inbound.sender} was already received with different content: stored as "
                f"{self.message_id} and held for review"
            )
        return ""


AnswerNumbers = Callable[[AnsweredIsa], int]


def partner_key(answered: AnsweredIsa) -> str:
    """The control-number sequence an answer to this sender draws from."""
    return f"x12:{answered.sender.qualifier}:{answered.sender.id}"


def _partner_sequence(conn: Connection, answered: AnsweredIsa) -> str | None:
    """The name of the trading partner whose ISA08 (``receiver_id``) sent this interchange."""
    sender = answered.sender.id.strip()
    for partner in list_partners(conn):
        if partner.receiver_id.strip() == sender:
            return partner.name
    return None


def answer_numbers(core: Core, key: Callable[[AnsweredIsa], str] = partner_key) -> AnswerNumbers:
    """Draw the next interchange control number for an answer, in its own short transaction."""

    def draw(answered: AnsweredIsa) -> int:
        with core.uow() as uow:
            pm = SqlPm(uow.conn, Stamp(None, core.clock.now(), "x12-answer"))
            # a known trading partner's answers share its outbound sequence (837P, 270, 276),
            # so the hub never sends that partner two interchanges with one ISA13
            sequence = _partner_sequence(uow.conn, answered) or key(answered)
            number = pm.next_control_number(sequence, ControlNumberKind.INTERCHANGE)
            uow.commit()
        return number

    return draw


class X12Receiver(Receiver[X12Document]):
    """The core's receiver, plus :meth:`submit` for entry points that report the stored id
    (``POST /x12``, ``hub x12 ingest``, the clearinghouse folder)."""

    def __init__(self, core: Core, intake: X12Intake, numbers: AnswerNumbers) -> None:
        super().__init__(core.ingest, intake.adapter(), core.settings.sender_bindings)
        self.core = core
        self.numbers = numbers

    def submit(self, raw: bytes, origin: Origin | None = None) -> Submission:
        look = self.adapter.inspect(raw)
        if origin is not None:
            look = self._bound(look, origin)
        look = self._numbered(look)
        actor = origin.actor if origin is not None else "feed"
        stored = self.ingest.ingest(look.inbound, answer=self._answer(look), actor=actor)
        return Submission(stored, look)

    def receive(self, raw: bytes, origin: Origin | None = None) -> bytes:
        return self.submit(raw, origin).stored.answer or b""

    def _numbered(self, look: Inspection[X12Document]) -> Inspection[X12Document]:
        document = look.document
        if document is None or document.answered is None:
            return look
        number = self.numbers(document.answered)
        numbered = X12Document(document.report, document.answered, number, self.core.clock.now())
        return Inspection(look.inbound, numbered, look.errors)
