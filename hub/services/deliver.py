"""Use cases around outbound deliveries: queue SIU for the EHRs, manage destinations, list
deliveries, retry one.

:func:`queue_siu` writes, in the caller's transaction, one outbound message per destination
(``direction`` out, status ``processed``, ``raw`` exactly the bytes that will be sent) and a
``pending`` delivery for each. One message per destination, not one shared: MSH-5/MSH-6 name the
receiver and MSH-10 is checked against that receiver's MSA-2, so every destination gets its own
bytes, and each delivery's attempts (``attempts.message_id``) stay its own.

A destination is skipped when the change came from that EHR's own feed (:func:`is_own_channel`):
``channel`` equal to the destination's name, its facility (MSH-4.1, the namespace the HL7 v2
mappings key appointments and MRNs by) or ``application^facility``. The EHR already knows about
its own change; echoing it back would loop.

Every admin change here is audited (who, what, why). Listing returns plain JSON-able dicts
without message content: a delivery's row holds ids, codes and PHI-free error text only.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.clock import Clock
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
from hub.store import audit
from hub.store import deliveries as store
from hub.store import messages as message_store
from hub.store.db import UnitOfWorkFactory
from hub.store.deliveries import DeliveryRecord, Destination
from hub.store.lifecycle import DeliveryStatus, Status
from hub.store.pm_tables import appointments, locations, patients, providers


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def destination_dict(d: Destination) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "kind": d.kind,
        "address": d.address,
        "facility": d.facility,
        "application": d.application,
        "enabled": d.enabled,
        "options": d.options,
    }


def delivery_dict(r: DeliveryRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "destination": r.destination,
        "message_id": r.message_id,
        "type": r.type,
        "control_id": r.control_id,
        "status": r.status.value,
        "attempts": r.attempt_count,
        "next_attempt_at": _iso(r.next_attempt_at),
        "error_code": r.last_error_code,
        "error": r.last_error,
        "created_at": _iso(r.created_at),
        "updated_at": _iso(r.updated_at),
        "sent_at": _iso(r.sent_at),
    }


def parse_status(value: str | None) -> DeliveryStatus | None:
    if value is None:
        return None
    try:
        return DeliveryStatus(value)
    except ValueError:
        raise ValidationError(
            f"unknown delivery status {value!r}; one of "
            + ", ".join(s.value for s in DeliveryStatus)
        ) from None


class DeliveryAdmin:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def add_destination(
        self,
        name: str,
        *,
        kind: str,
        address: str,
        facility: str = "",
        application: str = "",
        options: dict[str, Any] | None = None,
        actor: str = "cli",
    ) -> dict[str, Any]:
        now = self.clock.now()
        with self.uow() as uow:
            dest_id = store.add_destination(
                uow.conn,
                name=name,
                kind=kind,
                address=address,
                now=now,
                facility=facility,
                application=application,
                options=options,
            )
            audit.append(
                uow.conn,
                at=now,
                actor=actor,
                action="destination.added",
                object_type="destination",
                object_id=dest_id,
                detail={"name": name, "kind": kind, "address": address},
            )
            dest = store.get_destination(uow.conn, name)
            uow.commit()
        return destination_dict(dest)

    def set_enabled(self, name: str, enabled: bool, *, actor: str = "cli") -> dict[str, Any]:
        now = self.clock.now()
        with self.uow() as uow:
            dest = store.set_enabled(uow.conn, name, enabled)
            audit.append(
                uow.conn,
                at=now,
                actor=actor,
                action="destination.enabled" if enabled else "destination.disabled",
                object_type="destination",
                object_id=dest.id,
                detail={"name": name},
            )
            uow.commit()
        return destination_dict(dest)

    def destinations(self) -> list[dict[str, Any]]:
        with self.uow() as uow:
            return [destination_dict(d) for d in store.list_destinations(uow.conn)]

    def deliveries(
        self,
        *,
        status: DeliveryStatus | None = None,
        destination: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        with self.uow() as uow:
            return [
                delivery_dict(r)
                for r in store.search(uow.conn, status=status, destination=destination, limit=limit)
            ]

    def retry(self, delivery_id: int, *, actor: str = "cli", reason: str = "") -> dict[str, Any]:
        """A failed or dead delivery goes again: back to ``pending``, with a fresh retry budget."""
        now = self.clock.now()
        with self.uow() as uow:
            previous = store.requeue(uow.conn, delivery_id, now=now)
            audit.append(
                uow.conn,
                at=now,
                actor=actor,
                action="delivery.retry",
                object_type="delivery",
                object_id=delivery_id,
                detail={"from_status": previous.value, "reason": reason},
            )
            rec = store.get(uow.conn, delivery_id)
            uow.commit()
        return delivery_dict(rec)


def new_control_id() -> str:
    """MSH-10: 20 characters at most in v2.5.1, unique without a database round trip."""
    return uuid.uuid4().hex[:20].upper()


def is_own_channel(channel: str | None, dest: Destination) -> bool:
    if not channel:
        return False
    own = {dest.name, dest.facility}
    if dest.application and dest.facility:
        own.add(f"{dest.application}^{dest.facility}")
    return channel in (own - {""})


def queue_siu(
    conn: Connection,
    appointment_id: int,
    event: SiuEvent,
    *,
    channel: str | None,
    now: datetime,
    control_ids: Callable[[], str] = new_control_id,
) -> tuple[list[int], list[str]]:
    """In the caller's transaction: one SIU message and pending delivery per enabled MLLP
    destination that is not ``channel``'s own EHR. Returns (delivery ids, skipped names).

    Processors that apply an EHR's inbound SIU may call this with that EHR as ``channel``
    to tell the *other* EHRs.
    """
    delivery_ids: list[int] = []
    skipped: list[str] = []
    targets: list[Destination] = []
    for dest in store.list_destinations(conn, enabled_only=True):
        if dest.kind != "mllp":
            continue
        if is_own_channel(channel, dest):
            skipped.append(dest.name)
        else:
            targets.append(dest)
    if not targets:  # the common case for inbound SIU: nothing to build
        return delivery_ids, skipped
    appt = _siu_appointment(conn, appointment_id)
    for dest in targets:
        control_id = control_ids()
        raw = build_siu(event, appt, _endpoint(dest), now=now, control_id=control_id)
        message_id = message_store.insert(
            conn,
            message_store.NewMessage(
                protocol="hl7v2",
                raw=raw,
                sha256=_sha256(raw),
                status=Status.PROCESSED,
                received_at=now,
                direction="out",
                sender=str(dest.options.get("sending_facility", "PM")),
                receiver=dest.name,
                control_id=control_id,
                type=f"SIU^{event.value}",
                patient_refs=(appt.patient.mrn,),
                meta={"appointment_id": appointment_id, "destination": dest.name},
            ),
        )
        delivery_ids.append(
            store.create(
                conn, destination_id=dest.id, message_id=message_id, control_id=control_id, now=now
            )
        )
    return delivery_ids, skipped


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _endpoint(dest: Destination) -> SiuEndpoint:
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


def _siu_appointment(conn: Connection, appointment_id: int) -> SiuAppointment:
    a = conn.execute(sa.select(appointments).where(appointments.c.id == appointment_id)).first()
    if a is None:
        raise NotFound(f"appointment {appointment_id} not found")
    if a.patient_id is None or a.start is None:
        raise ValidationError(
            f"appointment {appointment_id} has no patient or start; it cannot be sent as SIU",
            code="required_field_missing",
        )
    p = conn.execute(sa.select(patients).where(patients.c.id == a.patient_id)).one()
    patient = SiuPatient(
        mrn=p.mrn,
        assigning_authority=p.facility,
        family_name=p.family_name or "",
        given_name=p.given_name or "",
        middle_name=p.middle_name or "",
        birth_date=p.birth_date,
        sex=p.sex or "",
    )
    provider = None
    if a.provider_id is not None:
        pr = conn.execute(sa.select(providers).where(providers.c.id == a.provider_id)).one()
        provider = SiuProvider(pr.npi or pr.local_id or str(pr.id), pr.family_name, pr.given_name)
    location = None
    if a.location_id is not None:
        lo = conn.execute(sa.select(locations).where(locations.c.id == a.location_id)).one()
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
