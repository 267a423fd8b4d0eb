"""Processors for HL7 v2 ADT / SIU / DFT: parse the stored raw bytes, validate, map, apply.

Parse, validation and mapping are the *prepare* step, run by the pipeline before the
processing transaction opens (they need no database); applying runs inside it (``ctx.conn``),
so the PM changes, the message's ``processed`` status and its audit event commit together.
Only the types the mapping really handles are registered: the HL7 v2 service answers AR
(table 0357 codes 200/201) for the rest by asking the registry.

- Structural validation (hl7apy) runs here, never on the ACK path, in the mode set for the
  sender (``HUB_HL7_VALIDATION`` / ``HUB_HL7_VALIDATION_BY_SENDER``): ``strict`` fails the
  message on the first finding (permanent, with its table 0357 code and location); ``tolerant``
  records the findings as warnings on the attempt and goes on.
- HL7 times without an offset are read in ``HUB_PRACTICE_TIMEZONE``.
- An inbound SIU changes the PM appointment, so it emits a domain event into the outbox in the
  same transaction; the SIU forwarding subscriber (:mod:`hub.services.hl7v2_outbound`) tells
  the *other* EHR destinations (every channel but the EHR's own feed). The PM speaks
  S12 / S13 / S15 outbound: S14 (modification) is announced as S13 with the new details, S17
  (deletion) as S15; S26 (no-show) is a fact about the visit and is not forwarded. A replay of a
  message that was already applied does not announce it a second time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from hub.adapters.hl7v2.tokenizer import Message, parse
from hub.adapters.hl7v2.validate import Mode, validate_structure
from hub.clock import Clock
from hub.errors import Hl7Location, HubError, MappingError, ParseError, Severity
from hub.mappings.hl7v2_pm import locate, map_message
from hub.pm.changes import MergePatients, PmChange, UpsertAppointment
from hub.pm.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentEvent,
    AppointmentRescheduled,
)
from hub.queue.registry import Prepare, ProcessContext, Processor
from hub.store import messages as message_store
from hub.store.messages import MessageRecord
from hub.store.outbox import emit
from hub.store.pm_repo import SqlPm, Stamp, find_appointment, find_patient

FORWARD: dict[str, type[AppointmentEvent]] = {
    "S12": AppointmentBooked,
    "S13": AppointmentRescheduled,
    "S14": AppointmentRescheduled,
    "S15": AppointmentCancelled,
    "S17": AppointmentCancelled,
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """Parse, validation findings and PM changes: everything but the database."""

    msg: Message
    changes: list[PmChange]
    warnings: list[HubError]
    now: datetime


def make_prepare(tz: tzinfo, validation: Callable[[str], Mode]) -> Prepare:
    def prepare(rec: MessageRecord, clock: Clock) -> Prepared:
        raw = rec.raw
        if raw is None:
            raise ParseError("message has no stored raw bytes", code="parse")
        msg = parse(raw)
        warnings = _validate(rec, msg, raw, validation(rec.sender))
        now = clock.now()
        return Prepared(msg, list(map_message(msg, now=now, tz=tz)), warnings, now)

    return prepare


def make_processor(tz: tzinfo, validation: Callable[[str], Mode]) -> Processor:
    prepare = make_prepare(tz, validation)

    def process(ctx: ProcessContext) -> None:
        # the pipeline ran prepare outside the transaction; a direct caller may not have
        done = (
            ctx.prepared if isinstance(ctx.prepared, Prepared) else prepare(ctx.message, ctx.clock)
        )
        ctx.warnings.extend(done.warnings)
        ctx.warnings.extend(_unknown_merges(ctx, done.changes))
        # a PM error gets the HL7 location of the key that failed (the PM raises without one)
        SqlPm(ctx.conn, Stamp(ctx.message.id, done.now)).apply_all(done.changes, on_error=locate)
        if done.msg.message_code == "SIU":
            _announce(ctx, done.msg.trigger, done.changes, done.now)

    return process


def _unknown_merges(ctx: ProcessContext, changes: Sequence[PmChange]) -> list[HubError]:
    """A40 policy (docs/glossary.md, "merge"): a merged patient (MRG-1) the PM does not know
    has nothing to move, so no merge is recorded; the survivor (PID-3) is still created or
    updated, and the attempt carries this warning so an analyst sees the merge did not happen."""
    return [
        MappingError(
            "A40: the merged patient (MRG-1) is not known; the survivor was created or updated "
            "and no merge was recorded",
            code="merge_unknown_patient",
            location=Hl7Location("MRG", field=1),
            severity=Severity.WARNING,
        )
        for change in changes
        if isinstance(change, MergePatients)
        and change.merged != change.survivor
        and find_patient(ctx.conn, change.merged) is None
    ]


def _validate(rec: MessageRecord, msg: Message, raw: bytes, mode: Mode) -> list[HubError]:
    """hl7apy's findings in the sender's mode: raises the first blocking one, returns the rest."""
    if mode == "off":
        return []
    meta = rec.meta or {}
    findings = validate_structure(
        raw.decode(msg.encoding, errors="replace"),
        str(meta.get("structure") or msg.structure),
        str(meta.get("version") or msg.version),
        mode,
    )
    blocking = [f for f in findings if f.severity in (Severity.ERROR, Severity.FATAL)]
    if blocking:
        raise blocking[0]
    return list(findings)


def _announce(
    ctx: ProcessContext, trigger: str, changes: Sequence[PmChange], now: datetime
) -> None:
    event = FORWARD.get(trigger)
    if event is None:
        return
    if ctx.replay and message_store.was_processed_before(ctx.conn, ctx.message.id):
        return
    for change in changes:
        if not isinstance(change, UpsertAppointment):
            continue
        appointment_id = find_appointment(ctx.conn, change.source_system, change.filler_id)
        if appointment_id is not None:
            emit(ctx.conn, event(appointment_id, origin=change.source_system), now=now)
