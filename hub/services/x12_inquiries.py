"""270 eligibility and 276 claim status inquiries: ``hub x12 eligibility COVERAGE_ID``,
``hub x12 status CLAIM`` and, when ``HUB_X12_ELIGIBILITY_ON_BOOKING`` is set, a 270 for the
patient's primary coverage each time an appointment is booked.

The commands write the file at once, like ``hub x12 claims`` (staged, committed, renamed: see
:mod:`hub.services.x12_outbound_files`), and audit it (``x12.270.written`` /
``x12.276.written``). The booking path is an outbox subscriber
(:func:`eligibility_on_booking`): in the relay's transaction it builds the 270 and queues it as
a delivery to the default partner's ``file`` destination, which the delivery queue writes
(DESIGN.md section 3, step 5). A booking whose patient has no coverage to ask about, or when no
practice or partner is set up, makes no 270 and never fails the event (the SIU forwarding of the
same event must go on).

The trace number (TRN02) is ``<ISA13>-<coverage id>`` for a 270 and ``<ISA13>-<claim number>``
for a 276: the 271/277 echo it, and the outbound message keeps it in its ``meta``. A 270 also
records an eligibility check with that trace number and no answer yet
(:class:`~hub.pm.billing_changes.RequestEligibility`), which the 271 reader joins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from hub.adapters.x12.eligibility_270 import FUNCTIONAL_ID as HS
from hub.adapters.x12.eligibility_270 import IMPLEMENTATION as X279
from hub.adapters.x12.eligibility_270 import Provider, write_270
from hub.adapters.x12.status_276 import FUNCTIONAL_ID as HR
from hub.adapters.x12.status_276 import IMPLEMENTATION as X212
from hub.adapters.x12.status_276 import write_276
from hub.clock import Clock
from hub.config import Settings
from hub.errors import HubError, InputError, NotFound, ValidationError
from hub.mappings.pm_x12 import inquiry_270, inquiry_276
from hub.pm.billing_changes import RequestEligibility
from hub.pm.entities import Coverage
from hub.pm.enums import ClaimStatus
from hub.pm.events import AppointmentBooked, DomainEvent
from hub.pm.repositories import PmRepository
from hub.queue.outbox import EventContext, Fanout, Subscriber
from hub.services.deliver import OutboundPayload, enqueue
from hub.services.partners import resolve_partner
from hub.services.practice import NEEDS_PRACTICE
from hub.services.reads import Actor
from hub.services.x12_claims import read_parts
from hub.services.x12_outbound_files import (
    PROTOCOL,
    FileBatch,
    local_time,
    next_group,
    next_set,
    open_interchange,
)
from hub.store import audit
from hub.store import destinations as dest_store
from hub.store.db import UnitOfWorkFactory
from hub.store.partners import PartnerRow, PracticeRow, get_practice
from hub.store.pm_repo import SqlPm, Stamp

log = logging.getLogger(__name__)

# a claim status inquiry is about a claim the payer has (or should have) received
ASKABLE = frozenset(
    {
        ClaimStatus.SUBMITTED,
        ClaimStatus.ACCEPTED,
        ClaimStatus.REJECTED,
        ClaimStatus.PAID,
        ClaimStatus.PARTIALLY_PAID,
        ClaimStatus.DENIED,
    }
)


def _practice(conn: Connection) -> PracticeRow:
    found = get_practice(conn)
    if found is None:
        raise NotFound(NEEDS_PRACTICE, code="no_practice")
    return found


def _coverage(pm: PmRepository, coverage_id: int) -> Coverage:
    found = pm.scheduling.coverage(coverage_id) if 0 < coverage_id < 2**63 else None
    if found is None:
        raise NotFound(f"coverage {coverage_id} not found", code="unknown_coverage")
    return found


def build_270(
    *,
    pm: PmRepository,
    practice: PracticeRow,
    partner: PartnerRow,
    coverage: Coverage,
    now: datetime,
    tz: ZoneInfo,
) -> tuple[bytes, str, str]:
    """The 270 file for ``coverage``: (bytes, ISA13, trace number)."""
    patient = pm.patients.get_by_id(coverage.patient_id)
    if coverage.payer_org_id is None or patient is None:
        raise ValidationError("the coverage has no payer to ask", code="payer_missing")
    payer = pm.references.organization(coverage.payer_org_id)
    if payer is None:
        raise ValidationError("the coverage has no payer to ask", code="payer_missing")
    at = local_time(now, tz)
    env = open_interchange(pm, partner, at)
    trace = f"{env.isa13}-{coverage.meta.id}"
    inquiry = inquiry_270(
        patient=patient,
        coverage=coverage,
        payer=payer,
        provider=Provider(practice.name, practice.npi),
        trace_number=trace,
        originator="1" + practice.tax_id,
        as_of=at.date(),
    )
    group = env.interchange.group(
        HS,
        X279,
        sender_id=partner.sender_id,
        receiver_id=partner.receiver_id,
        control_number=next_group(pm, partner),
    )
    write_270(group, inquiry, reference=trace, created=at, control_number=next_set(pm, partner))
    body = env.interchange.to_bytes()
    # the check the 271 joins, found by its trace number (once the file is sure to exist)
    pm.apply(RequestEligibility(trace, patient.key, coverage.priority, now))
    return body, env.isa13, trace


# what an inquiry builder returns: the file's bytes, its ISA13, its trace number, its meta
Built = tuple[bytes, str, str, dict[str, Any]]


class InquiryService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, settings: Settings) -> None:
        self.uow = uow
        self.clock = clock
        self.tz = ZoneInfo(settings.practice_timezone)

    def eligibility(
        self, coverage_id: int, *, partner: str | None, out: Path | None, actor: Actor
    ) -> dict[str, Any]:
        def build(pm: SqlPm, practice: PracticeRow, to: PartnerRow, now: datetime) -> Built:
            coverage = _coverage(pm, coverage_id)
            body, isa13, trace = build_270(
                pm=pm, practice=practice, partner=to, coverage=coverage, now=now, tz=self.tz
            )
            return body, isa13, trace, {"trace_number": trace, "coverage_id": coverage_id}

        return self._write("270", build, partner=partner, out=out, actor=actor)

    def claim_status(
        self, claim_number: str, *, partner: str | None, out: Path | None, actor: Actor
    ) -> dict[str, Any]:
        def build(pm: SqlPm, practice: PracticeRow, to: PartnerRow, now: datetime) -> Built:
            claim = pm.billing.claim(claim_number)
            if claim is None:
                raise NotFound(f"claim {claim_number!r} not found", code="unknown_claim")
            if claim.status not in ASKABLE:
                raise ValidationError(
                    f"claim {claim_number} is {claim.status.value}: only a submitted claim "
                    "has a status to ask about",
                    code="not_submitted",
                )
            at = local_time(now, self.tz)
            env = open_interchange(pm, to, at)
            trace = f"{env.isa13}-{claim_number}"[:50]
            inquiry = inquiry_276(
                parts=read_parts(pm, claim),
                provider=Provider(practice.name, practice.npi),
                receiver_name=practice.name,
                receiver_id=to.sender_id,
                trace_number=trace,
            )
            group = env.interchange.group(
                HR, X212, sender_id=to.sender_id, receiver_id=to.receiver_id,
                control_number=next_group(pm, to),
            )  # fmt: skip
            write_276(group, inquiry, reference=trace, created=at,
                      control_number=next_set(pm, to))  # fmt: skip
            meta = {"trace_number": trace, "claim": claim_number}
            return env.interchange.to_bytes(), env.isa13, trace, meta

        return self._write("276", build, partner=partner, out=out, actor=actor)

    def _write(
        self,
        kind: str,
        build: Callable[[SqlPm, PracticeRow, PartnerRow, datetime], Built],
        *,
        partner: str | None,
        out: Path | None,
        actor: Actor,
    ) -> dict[str, Any]:
        """One inquiry file: built, stored as an outbound message, audited and committed in one
        transaction, then published (a rolled-back build leaves no file: ADR 0018)."""
        now = self.clock.now()
        files = FileBatch()
        try:
            with self.uow() as u:
                pm = SqlPm(u.conn, Stamp(None, now, str(actor)))
                practice, to = _practice(u.conn), resolve_partner(u.conn, partner)
                body, isa13, trace, meta = build(pm, practice, to, now)
                path, message_id = files.add(
                    u.conn, partner=to, out=out, kind=kind, isa13=isa13, body=body, now=now,
                    meta=meta,
                )  # fmt: skip
                self._audit(
                    u.conn, action=f"x12.{kind}.written", message_id=message_id, partner=to,
                    isa13=isa13, path=path, actor=actor, now=now,
                )  # fmt: skip
                u.commit()
        except BaseException:
            files.discard()
            raise
        files.publish()
        return {"type": kind, "path": str(path), "interchange": isa13, "trace_number": trace}

    def _audit(
        self,
        conn: Connection,
        *,
        action: str,
        message_id: int,
        partner: PartnerRow,
        isa13: str,
        path: Path,
        actor: Actor,
        now: datetime,
    ) -> None:
        audit.append(
            conn,
            at=now,
            actor=str(actor),
            action=action,
            object_type="message",
            object_id=message_id,
            detail={
                "partner": partner.name,
                "interchange": isa13,
                "file": path.name,
                "via": actor.via,
            },
        )


def eligibility_on_booking(settings: Settings) -> Subscriber:
    """An outbox subscriber: a 270 for the booked patient's primary coverage, queued to the
    default partner's file destination (only when ``HUB_X12_ELIGIBILITY_ON_BOOKING``)."""
    tz = ZoneInfo(settings.practice_timezone)

    def ask(event: DomainEvent, ctx: EventContext) -> Fanout:
        fan = Fanout()
        if not settings.x12_eligibility_on_booking or not isinstance(event, AppointmentBooked):
            return fan
        try:
            pm = SqlPm(ctx.conn, Stamp(None, ctx.now, "outbox"))
            appt = pm.scheduling.appointment(event.appointment_id)
            practice = get_practice(ctx.conn)
            if appt is None or appt.patient_id is None or practice is None:
                return fan
            active = [c for c in pm.scheduling.coverages_of(appt.patient_id) if c.active]
            if not active:
                return fan
            to = resolve_partner(ctx.conn, None)
            if to.destination_id is None:
                return fan
            dest = dest_store.get_destination_by_id(ctx.conn, to.destination_id)
            coverage = min(active, key=lambda c: (c.priority, c.meta.id))

            def build() -> OutboundPayload:
                body, isa13, trace = build_270(
                    pm=pm, practice=practice, partner=to, coverage=coverage, now=ctx.now, tz=tz
                )
                return OutboundPayload(
                    protocol=PROTOCOL,
                    raw=body,
                    control_id=isa13,
                    type="270",
                    sender=to.sender_id,
                    meta={"trace_number": trace, "coverage_id": coverage.meta.id},
                )

            fan.delivery_ids.append(enqueue(dest, ctx, build))
        except (InputError, NotFound) as exc:
            # nothing to ask, or not set up: never fail the event (SIU forwarding rides on it)
            log.info(
                "no 270 for a booking",
                extra={"appointment_id": event.appointment_id, "error_code": exc.code},
            )
        except HubError:
            raise
        return fan

    return ask
