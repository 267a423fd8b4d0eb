"""HL7 v2 outbound: SIU forwarding as an outbox subscriber, and the HL7 answer judge.

Declared by the HL7 v2 plug-in (:mod:`hub.protocols.hl7v2`) in its runtime:

- the judge :func:`~hub.adapters.hl7v2.ack_judge.judge_hl7_ack` for HL7 v2 payloads over MLLP
  (MSA-1 AA/CA and MSA-2 equal to the sent MSH-10);
- the subscriber :func:`siu_forwarding`: an appointment booked, rescheduled or cancelled
  becomes SIU^S12 / S13 / S15, one message per MLLP destination (MSH-5/MSH-6 name the receiver
  and MSH-10 is checked against that receiver's MSA-2, so every destination gets its own bytes),
  except the destination whose feed the change came from (``origin``, see
  :func:`~hub.services.deliver.is_own_channel`): echoing it back would loop.

The SIU is built when the event is relayed, from the PM as it is then (the event carries ids,
not data); the builder is :func:`hub.mappings.pm_hl7v2.build_siu`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import Connection

from hub.errors import NotFound, ValidationError
from hub.mappings.pm_hl7v2 import (
    SiuAppointment,
    SiuEndpoint,
    SiuEvent,
    SiuLocation,
    SiuPatient,
    SiuProvider,
    build_siu,
)
from hub.pm.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentEvent,
    AppointmentRescheduled,
    DomainEvent,
)
from hub.queue.outbox import EventContext, Fanout, Subscriber
from hub.services.deliver import OutboundPayload, enqueue, is_own_channel, new_control_id
from hub.store.deliveries import Destination
from hub.store.destinations import list_destinations
from hub.store.pm_repo import SqlPm
from hub.store.pm_repo.rows import Stamp

PROTOCOL = "hl7v2"

SIU_FOR: dict[type[AppointmentEvent], SiuEvent] = {
    AppointmentBooked: SiuEvent.BOOK,
    AppointmentRescheduled: SiuEvent.RESCHEDULE,
    AppointmentCancelled: SiuEvent.CANCEL,
}


def siu_forwarding(control_ids: Callable[[], str] = new_control_id) -> Subscriber:
    def forward(event: DomainEvent, ctx: EventContext) -> Fanout:
        fan = Fanout()
        if not isinstance(event, AppointmentEvent):
            return fan
        siu_event = SIU_FOR.get(type(event))
        if siu_event is None:
            return fan
        targets: list[Destination] = []
        for dest in list_destinations(ctx.conn, kind="mllp"):
            if is_own_channel(event.origin, dest):
                fan.skipped.append(dest.name)
            else:
                targets.append(dest)
        if not targets:  # the common case for inbound SIU: nothing to build
            return fan
        appt = load_appointment(ctx.conn, event.appointment_id)
        for dest in targets:

            def build(dest: Destination = dest) -> OutboundPayload:
                control_id = control_ids()
                raw = build_siu(siu_event, appt, endpoint(dest), now=ctx.now, control_id=control_id)
                return OutboundPayload(
                    protocol=PROTOCOL,
                    raw=raw,
                    control_id=control_id,
                    type=f"SIU^{siu_event.value}",
                    sender=str(dest.options.get("sending_facility", "PM")),
                    patient_refs=(appt.patient.mrn,),
                    meta={"appointment_id": event.appointment_id},
                )

            fan.delivery_ids.append(enqueue(dest, ctx, build))
        return fan

    return forward


def endpoint(dest: Destination) -> SiuEndpoint:
    opts = dest.options
    tz: tzinfo | None = None
    if opts.get("timezone"):
        try:
            tz = ZoneInfo(str(opts["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                f"destination {dest.name!r} has an unknown timezone", code="invalid"
            ) from None
    base = SiuEndpoint(
        receiving_application=dest.application,
        receiving_facility=dest.facility,
        sending_application=str(opts.get("sending_application", "HUB")),
        sending_facility=str(opts.get("sending_facility", "PM")),
        processing_id=str(opts.get("processing_id", "P")),
    )
    return base if tz is None else replace(base, tz=tz)


def load_appointment(conn: Connection, appointment_id: int) -> SiuAppointment:
    """The appointment as the SIU builder's input, read through the PM's typed repositories
    (the same reads every other protocol uses; codes are the PM's, translated at the HL7 edge
    by :mod:`hub.mappings.pm_hl7v2`)."""
    pm = SqlPm(conn, Stamp(None, datetime.now(UTC)))  # reads only: the stamp is never written
    a = pm.scheduling.appointment(appointment_id)
    if a is None:
        raise NotFound(f"appointment {appointment_id} not found")
    if a.patient_id is None or a.start is None:
        raise ValidationError(
            f"appointment {appointment_id} has no patient or start; it cannot be sent as SIU",
            code="required_field_missing",
        )
    p = pm.patients.get_by_id(a.patient_id)
    if p is None:
        raise NotFound(f"patient {a.patient_id} of appointment {appointment_id} not found")
    patient = SiuPatient(
        mrn=p.key.mrn,
        assigning_authority=p.key.facility,
        family_name=p.family_name or "",
        given_name=p.given_name or "",
        middle_name=p.middle_name or "",
        birth_date=p.birth_date,
        sex=p.gender.value if p.gender is not None else "",
    )
    provider = None
    pr = pm.references.provider(a.provider_id) if a.provider_id is not None else None
    if pr is not None:
        provider = SiuProvider(
            pr.npi or pr.local_id or str(pr.meta.id), pr.family_name, pr.given_name
        )
    location = None
    lo = pm.references.location(a.location_id) if a.location_id is not None else None
    if lo is not None:
        location = SiuLocation(lo.code, lo.facility, lo.name)
    return SiuAppointment(
        filler_id=a.filler_id or f"PM{a.id}",
        patient=patient,
        start=a.start,
        minutes=a.minutes or 0,
        placer_id=a.placer_id or "",
        filler_authority=a.source_system,
        type=a.type or "",
        reason=a.reason or "",
        provider=provider,
        location=location,
    )
