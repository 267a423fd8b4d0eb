"""Book, reschedule and cancel appointments in the PM, and tell the EHRs (issue 3 item 6).

Each call is ONE transaction: the PM appointment change, its domain event in the outbox
(:mod:`hub.pm.events`) and the audit event. After the commit the event is relayed at once when
a relay is given (the SIU subscriber makes one delivery per destination that is not
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
from sqlalchemy.engine import Connection

from hub.clock import Clock
from hub.errors import Conflict, NotFound, ValidationError
from hub.mappings.pm_hl7v2 import SiuEvent
from hub.pm.enums import AppointmentStatus
from hub.pm.events import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from hub.queue.outbox import Fanout
from hub.services.deliver import is_own_channel, new_control_id
from hub.store import audit
from hub.store.db import UnitOfWorkFactory
from hub.store.outbox import emit
from hub.store.pm_tables import appointments, locations, patients, providers

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
            conn = uow.conn
            patient_id = _patient_id(conn, req.patient_mrn, req.patient_facility)
            if req.filler_id and _find(conn, req.filler_id, PM_SYSTEM, missing_ok=True):
                raise Conflict(
                    "an appointment with this filler id already exists", code="duplicate_key"
                )
            loc_facility = req.location_facility or req.patient_facility
            appt_id = int(
                conn.execute(
                    sa.insert(appointments)
                    .values(
                        filler_id=req.filler_id,
                        placer_id=req.placer_id,
                        source_system=PM_SYSTEM,
                        patient_id=patient_id,
                        start=req.start,
                        minutes=req.minutes,
                        status=AppointmentStatus.BOOKED.value,
                        type=req.type,
                        reason=req.reason,
                        provider_id=_provider_id(conn, req.provider, now) if req.provider else None,
                        location_id=(
                            _location_id(conn, req.location, loc_facility, now)
                            if req.location
                            else None
                        ),
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(appointments.c.id)
                ).scalar_one()
            )
            if not req.filler_id:
                conn.execute(
                    sa.update(appointments)
                    .where(appointments.c.id == appt_id)
                    .values(filler_id=f"PM{appt_id}")
                )
            change = self._commit(
                uow, appt_id, SiuEvent.BOOK, channel=channel, actor=actor, now=now
            )
        return change

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
            appt = _find(uow.conn, filler_id, source_system)
            if appt["status"] != AppointmentStatus.BOOKED.value:
                raise Conflict(
                    f"appointment {appt['id']} is {appt['status']}; only booked "
                    "appointments can be rescheduled",
                    code="not_booked",
                )
            values: dict[str, Any] = {"start": start, "updated_at": now}
            if minutes is not None:
                values["minutes"] = minutes
            uow.conn.execute(
                sa.update(appointments).where(appointments.c.id == appt["id"]).values(**values)
            )
            return self._commit(
                uow, int(appt["id"]), SiuEvent.RESCHEDULE, channel=channel, actor=actor, now=now
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
            appt = _find(uow.conn, filler_id, source_system)
            if appt["status"] == AppointmentStatus.CANCELLED.value:
                raise Conflict(
                    f"appointment {appt['id']} is already cancelled", code="already_cancelled"
                )
            values: dict[str, Any] = {
                "status": AppointmentStatus.CANCELLED.value,
                "updated_at": now,
            }
            if reason:
                values["reason"] = reason
            uow.conn.execute(
                sa.update(appointments).where(appointments.c.id == appt["id"]).values(**values)
            )
            return self._commit(
                uow, int(appt["id"]), SiuEvent.CANCEL, channel=channel, actor=actor, now=now
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


def _patient_id(conn: Connection, mrn: str, facility: str) -> int:
    row = conn.execute(
        sa.select(patients.c.id, patients.c.merged_into_id).where(
            patients.c.facility == facility, patients.c.mrn == mrn
        )
    ).first()
    if row is None:
        # no MRN in the text: error texts never carry patient identifiers
        raise NotFound(f"no patient with that MRN at facility {facility!r}", code="unknown_patient")
    return int(row.merged_into_id or row.id)


def _find(
    conn: Connection, filler_id: str, source_system: str | None, *, missing_ok: bool = False
) -> dict[str, Any]:
    q = sa.select(appointments.c.id, appointments.c.status).where(
        appointments.c.filler_id == filler_id
    )
    if source_system is not None:
        q = q.where(appointments.c.source_system == source_system)
    rows = conn.execute(q.limit(2)).all()
    if not rows:
        if missing_ok:
            return {}
        raise NotFound(f"no appointment with filler id {filler_id!r}", code="unknown_key")
    if len(rows) > 1:
        raise Conflict(
            f"filler id {filler_id!r} is used by several systems; name the source system",
            code="ambiguous",
        )
    return dict(rows[0]._mapping)


def _provider_id(conn: Connection, ref: str, now: datetime) -> int:
    row = conn.execute(
        sa.select(providers.c.id)
        .where(sa.or_(providers.c.npi == ref, providers.c.local_id == ref))
        .order_by(providers.c.id)
    ).first()
    if row is not None:
        return int(row.id)
    npi = ref if len(ref) == 10 and ref.isdigit() else None
    return int(
        conn.execute(
            sa.insert(providers)
            .values(
                npi=npi,
                local_id=None if npi else ref,
                created_at=now,
                updated_at=now,
            )
            .returning(providers.c.id)
        ).scalar_one()
    )


def _location_id(conn: Connection, code: str, facility: str, now: datetime) -> int:
    row = conn.execute(
        sa.select(locations.c.id).where(locations.c.facility == facility, locations.c.code == code)
    ).first()
    if row is not None:
        return int(row.id)
    return int(
        conn.execute(
            sa.insert(locations)
            .values(
                code=code,
                facility=facility,
                created_at=now,
                updated_at=now,
            )
            .returning(locations.c.id)
        ).scalar_one()
    )
