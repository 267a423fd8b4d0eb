"""Use cases around outbound deliveries: destination admin, listing, manual retry, and the
one generic way subscribers queue a payload (:func:`enqueue`).

Nothing here knows a protocol: SIU forwarding lives in :mod:`hub.services.hl7v2_outbound`,
FHIR subscriptions and 837P batches will live in their packages (docs/adr/0008).

:func:`enqueue` writes, in the relay's transaction, one outbound message (``direction`` out,
status ``processed``, ``raw`` exactly the bytes that will be sent) and a ``pending`` delivery,
unless the destination already has a delivery for this event (the relay may run an event twice;
a delivery is never created twice).

Every admin change here is audited (who, what, why). Listing returns plain JSON-able dicts
without message content: a delivery's row holds ids, codes and PHI-free error text only.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.clock import Clock
from hub.errors import ValidationError
from hub.queue.outbox import EventContext
from hub.store import audit
from hub.store import deliveries as store
from hub.store import destinations as dest_store
from hub.store import messages as message_store
from hub.store.db import UnitOfWorkFactory
from hub.store.deliveries import DeliveryRecord, Destination
from hub.store.lifecycle import DeliveryStatus, Status


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def destination_dict(d: Destination) -> dict[str, Any]:
    options = dict(d.options)
    if "headers" in options:  # may hold a receiver's secret: names only
        options["headers"] = sorted(options["headers"])
    return {
        "id": d.id,
        "name": d.name,
        "kind": d.kind,
        "address": d.address,
        "facility": d.facility,
        "application": d.application,
        "enabled": d.enabled,
        "paused": d.paused,
        "retry_horizon": d.retry_horizon,
        "options": options,
    }


def delivery_dict(r: DeliveryRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "destination": r.destination,
        "message_id": r.message_id,
        "outbox_id": r.outbox_id,
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
        retry_horizon: float | None = None,
        actor: str = "cli",
    ) -> dict[str, Any]:
        now = self.clock.now()
        with self.uow() as uow:
            dest_id = dest_store.add_destination(
                uow.conn,
                name=name,
                kind=kind,
                address=address,
                now=now,
                facility=facility,
                application=application,
                options=options,
                retry_horizon=retry_horizon,
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
            dest = dest_store.get_destination(uow.conn, name)
            uow.commit()
        return destination_dict(dest)

    def set_enabled(self, name: str, enabled: bool, *, actor: str = "cli") -> dict[str, Any]:
        """Resume (``True``) or pause (``False``); paused destinations keep queueing."""
        now = self.clock.now()
        with self.uow() as uow:
            dest = dest_store.set_enabled(uow.conn, name, enabled)
            audit.append(
                uow.conn,
                at=now,
                actor=actor,
                action="destination.resumed" if enabled else "destination.paused",
                object_type="destination",
                object_id=dest.id,
                detail={"name": name},
            )
            uow.commit()
        return destination_dict(dest)

    def pause(self, name: str, *, actor: str = "cli") -> dict[str, Any]:
        return self.set_enabled(name, False, actor=actor)

    def resume(self, name: str, *, actor: str = "cli") -> dict[str, Any]:
        return self.set_enabled(name, True, actor=actor)

    def destinations(self) -> list[dict[str, Any]]:
        with self.uow() as uow:
            return [destination_dict(d) for d in dest_store.list_destinations(uow.conn)]

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
        """A failed or dead delivery goes again: back to ``pending``, with a fresh horizon."""
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
    """MSH-10 / a file name part: 20 characters at most, unique without a database round trip."""
    return uuid.uuid4().hex[:20].upper()


def is_own_channel(channel: str | None, dest: Destination) -> bool:
    """Did the change come from this destination's own feed? Then it is not echoed back:
    ``channel`` equal to the destination's name, its facility, or ``application^facility``."""
    if not channel:
        return False
    own = {dest.name, dest.facility}
    if dest.application and dest.facility:
        own.add(f"{dest.application}^{dest.facility}")
    return channel in (own - {""})


@dataclass(frozen=True, slots=True)
class OutboundPayload:
    """One outbound document for one destination, as a subscriber builds it."""

    protocol: str
    raw: bytes
    control_id: str
    type: str
    sender: str = ""
    patient_refs: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] | None = None  # HTTP headers for this payload


def enqueue(dest: Destination, ctx: EventContext, build: Callable[[], OutboundPayload]) -> int:
    """In the relay's transaction: the delivery of ``build()`` to ``dest`` for this event.

    Returns the existing delivery's id when the event was relayed to ``dest`` before (``build``
    is then not called: no orphan outbound message).
    """
    conn, now = ctx.conn, ctx.now
    existing = store.for_event(conn, ctx.outbox_id, dest.id)
    if existing is not None:
        return existing
    p = build()
    message_id = message_store.insert(
        conn,
        message_store.NewMessage(
            protocol=p.protocol,
            raw=p.raw,
            sha256=hashlib.sha256(p.raw).hexdigest(),
            status=Status.PROCESSED,
            received_at=now,
            direction="out",
            sender=p.sender,
            receiver=dest.name,
            control_id=p.control_id,
            type=p.type,
            patient_refs=p.patient_refs,
            meta={**p.meta, "destination": dest.name, "outbox_id": ctx.outbox_id},
        ),
    )
    return store.create(
        conn,
        destination_id=dest.id,
        message_id=message_id,
        control_id=p.control_id,
        now=now,
        outbox_id=ctx.outbox_id,
        headers=p.headers,
    )
