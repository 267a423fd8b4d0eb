"""Book, reschedule and cancel appointments in the PM, and tell the EHRs (issue 3 item 6).

Each call is ONE transaction: the PM appointment change (through the PM repository, so with
the same matching rules, locks, versions and history as a message's change), its domain event
in the outbox (:mod:`hub.pm.events`) and the audit event. After the commit the event is relayed
at once when a relay is given (the SIU subscriber makes one delivery per destination that is not
``channel``'s own EHR) and the delivery worker is woken; otherwise the delivery threads of
`hub serve` relay it within a poll.

Called by the CLI now and by the FHIR API later; ``channel`` names where the change came from
(see :func:`hub.services.deliver.is_own_channel`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.clock import Clock
from hub.errors import Conflict, NotFound, ValidationError
from hub.mappings.pm_hl7v2 import SiuEvent
from hub.pm.changes import BookAppointment, UpsertAppointment
from hub.pm.entities import Appointment, Patient
from hub.pm.enums import AppointmentStatus
from hub.pm.events import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from hub.pm.keys import LocationRef, PatientKey, ProviderRef, is_npi
from hub.queue.outbox import Fanout
from hub.services.deliver import is_own_channel, new_control_id
from hub.store import audit
from hub.store.db import UnitOfWorkFactory
from hub.store.outbox import emit
from hub.store.pm_repo import SqlPm, Stamp
from hub.store.pm_tables import appointments

log = logging.getLogger(__name__)

__all__ = ["AppointmentChange", "AppointmentService", "BookRequest", "is_own_channel"]

PM_SYSTEM = "PM"  # source_system of appointments the PM itself books (it is their filler)


@dataclass(frozen=True, slots=True)
class BookRequest:
    patient_mrn: str
    patient_facility: str
    start: datetime
    minutes: int
    provider: str | None = None  # NPI or local id; unknown ids are added to the PM
    location: str | None = None  # location code within ``location_facility``
    location_facility: str | None = None  # defaults to the patient's facility
    type: str | None = None
    reason: str | None = None
    filler_id: str | None = None  # default: PM<appointment id>
    placer_id: str | None = None


@dataclass(frozen=True, slots=True)
class AppointmentChange:
    appointment_id: int
    filler_id: str
    event: SiuEvent
    delivery_ids: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # destinations not told (own channel)


class AppointmentService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        wake: Callable[[], None] | None = None,
        control_ids: Callable[[], str] = new_control_id,
        relay: Callable[[int], Fanout] | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.wake = wake
        self.control_ids = control_ids
        self.relay = relay  # OutboxRelay.relay_through: report the deliveries at once

    def book(
        self, req: BookRequest, *, channel: str | None = None, actor: str = "cli"
    ) -> AppointmentChange:
        if req.minutes <= 0:
            raise ValidationError("minutes must be positive", code="invalid")
        _aware(req.start)
        now = self.clock.now()
        with self.uow() as uow:
            pm = SqlPm(uow.conn, Stamp(None, now, actor))
            patient = _patient(pm, req.patient_mrn, req.patient_facility)
            fields: dict[str, object] = {
                "start": req.start,
                "minutes": req.minutes,
                "status": AppointmentStatus.BOOKED,
            }
            for name in ("placer_id", "type", "reason"):
                if getattr(req, name) is not None:
                    fields[name] = getattr(req, name)
            loc_facility = req.location_facility or req.patient_facility
            appt_id = pm.apply(
                BookAppointment(
                    source_system=PM_SYSTEM,
                    patient=patient.key,
                    fields=fields,
                    provider=provider_ref(req.provider) if req.provider else None,
                    location=LocationRef(loc_facility, req.location) if req.location else None,
                    filler_id=req.filler_id,
                )
            )
            assert appt_id is not None
            return self._commit(uow, appt_id, SiuEvent.BOOK, channel=channel, actor=actor, now=now)

    def reschedule(
        self,
        filler_id: str,
        *,
        start: datetime,
        minutes: int | None = None,
        source_system: str | None = None,
        channel: str | None = None,
        actor: str = "cli",
    ) -> AppointmentChange:
        _aware(start)
        if minutes is not None and minutes <= 0:
            raise ValidationError("minutes must be positive", code="invalid")
        now = self.clock.now()
        with self.uow() as uow:
            pm = SqlPm(uow.conn, Stamp(None, now, actor))
            appt = _find(pm, filler_id, source_system)
            if appt.status is not AppointmentStatus.BOOKED:
                raise Conflict(
                    f"appointment {appt.id} is {appt.status.value}; only booked "
                    "appointments can be rescheduled",
                    code="not_booked",
                )
            fields: dict[str, object] = {"start": start}
            if minutes is not None:
                fields["minutes"] = minutes
            pm.apply(_change(appt, fields))
            return self._commit(
                uow, appt.id, SiuEvent.RESCHEDULE, channel=channel, actor=actor, now=now
            )

    def cancel(
        self,
        filler_id: str,
        *,
        reason: str | None = None,
        source_system: str | None = None,
        channel: str | None = None,
        actor: str = "cli",
    ) -> AppointmentChange:
        now = self.clock.now()
        with self.uow() as uow:
            pm = SqlPm(uow.conn, Stamp(None, now, actor))
            appt = _find(pm, filler_id, source_system)
            if appt.status is AppointmentStatus.CANCELLED:
                raise Conflict(
                    f"appointment {appt.id} is already cancelled", code="already_cancelled"
                )
            fields: dict[str, object] = {"status": AppointmentStatus.CANCELLED}
            if reason:
                fields["reason"] = reason
            pm.apply(_change(appt, fields))
            return self._commit(
                uow, appt.id, SiuEvent.CANCEL, channel=channel, actor=actor, now=now
            )

    def _commit(
        self,
        uow: Any,
        appt_id: int,
        event: SiuEvent,
        *,
        channel: str | None,
        actor: str,
        now: datetime,
    ) -> AppointmentChange:
        conn = uow.conn
        outbox_id = emit(conn, _EVENT[event](appt_id, origin=channel), now=now)
        filler = str(
            conn.execute(
                sa.select(appointments.c.filler_id).where(appointments.c.id == appt_id)
            ).scalar_one()
        )
        audit.append(
            conn,
            at=now,
            actor=actor,
            action=f"appointment.{_ACTION[event]}",
            object_type="appointment",
            object_id=appt_id,
            detail={
                "event": f"SIU^{event.value}",
                "channel": channel or "",
                "outbox_id": outbox_id,
            },
        )
        uow.commit()
        fanout = self.relay(outbox_id) if self.relay is not None else Fanout()
        delivery_ids, skipped = fanout.delivery_ids, fanout.skipped
        log.info(
            "appointment %s",
            _ACTION[event],
            extra={"appointment_id": appt_id, "deliveries": len(delivery_ids)},
        )
        if self.wake is not None:
            self.wake()
        return AppointmentChange(appt_id, filler, event, delivery_ids, skipped)


_EVENT = {
    SiuEvent.BOOK: AppointmentBooked,
    SiuEvent.RESCHEDULE: AppointmentRescheduled,
    SiuEvent.CANCEL: AppointmentCancelled,
}

_ACTION = {
    SiuEvent.BOOK: "booked",
    SiuEvent.RESCHEDULE: "rescheduled",
    SiuEvent.CANCEL: "cancelled",
}


def _aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValidationError(
            "start needs a UTC offset (e.g. 2026-11-23T09:00:00-05:00)", code="invalid"
        )


def _patient(pm: SqlPm, mrn: str, facility: str) -> Patient:
    """The patient by MRN, or the survivor it was merged into."""
    patient = pm.patients.get(PatientKey(facility, mrn))
    if patient is not None and patient.merged_into_id is not None:
        patient = pm.patients.get_by_id(patient.merged_into_id)
    if patient is None:
        # no MRN in the text: error texts never carry patient identifiers
        raise NotFound(f"no patient with that MRN at facility {facility!r}", code="unknown_patient")
    return patient


def _find(pm: SqlPm, filler_id: str, source_system: str | None) -> Appointment:
    rows = pm.scheduling.find_appointments(filler_id, source_system, limit=2)
    if not rows:
        raise NotFound(f"no appointment with filler id {filler_id!r}", code="unknown_key")
    if len(rows) > 1:
        raise Conflict(
            f"filler id {filler_id!r} is used by several systems; name the source system",
            code="ambiguous",
        )
    return rows[0]


def _change(appt: Appointment, fields: dict[str, object]) -> UpsertAppointment:
    assert appt.filler_id is not None
    return UpsertAppointment(appt.source_system, appt.filler_id, None, fields, must_exist=True)


def provider_ref(value: str) -> ProviderRef:
    """A provider id typed by an admin: an NPI when it is a valid one (10 digits, check digit),
    else the EHR's local id. The same rule as the HL7 mappings' once the id is typed."""
    return ProviderRef(npi=value) if is_npi(value) else ProviderRef(local_id=value)
