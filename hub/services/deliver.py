"""Use cases around outbound deliveries: manage destinations, list deliveries, retry one.

Every change here is audited (who, what, why). Listing returns plain JSON-able dicts without
message content: a delivery's row holds ids, codes and PHI-free error text only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.clock import Clock
from hub.errors import ValidationError
from hub.store import audit
from hub.store import deliveries as store
from hub.store.db import UnitOfWorkFactory
from hub.store.deliveries import DeliveryRecord, Destination
from hub.store.lifecycle import DeliveryStatus


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
