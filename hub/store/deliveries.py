"""Destinations and deliveries: outbound work, one row per (outbound message, destination).

DESIGN.md section 3, step 5. A delivery has its own status (:class:`DeliveryStatus`), attempt
count and lease. Ordering rule, the same head-of-lane idea as for messages with the lane being
the destination: a delivery may be leased only when no earlier delivery (lower id) to the same
destination still owes an outcome (``pending`` or ``retrying``), and its destination is not
paused. ``failed`` and ``dead`` do not block the lane: they wait for a human
(``hub deliveries retry``).

Taking a lease does not change the status; it sets ``lease_until``. A worker that dies mid-send
leaves a lease that simply expires: the delivery is leasable again, and :func:`release_expired`
marks the open attempt *abandoned*. PostgreSQL adds ``FOR UPDATE SKIP LOCKED`` to the lease;
SQLite's ``BEGIN IMMEDIATE`` already serialises leases.

A delivery made for a domain event keeps its ``outbox_id``; a unique index on
``(outbox_id, destination_id)`` makes "one delivery per event and destination" a database fact,
whatever the relay retries. ``retry_from`` is where the destination's retry horizon counts from
(creation, or the last manual retry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict, NotFound
from hub.store.crypto import cipher_of
from hub.store.destinations import KINDS, Destination, get_destination_by_id
from hub.store.lifecycle import DELIVERY_TRANSITIONS, DeliveryStatus
from hub.store.messages import unseal
from hub.store.tables import attempts, deliveries, destinations, messages

__all__ = ["KINDS", "DeliveryRecord", "Destination", "Leased"]

# Deliveries that still owe their destination lane an outcome.
OPEN: frozenset[DeliveryStatus] = frozenset({DeliveryStatus.PENDING, DeliveryStatus.RETRYING})
REQUEUEABLE: frozenset[DeliveryStatus] = frozenset({DeliveryStatus.FAILED, DeliveryStatus.DEAD})
_OPEN = [s.value for s in OPEN]


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    destination_id: int
    destination: str
    message_id: int | None
    control_id: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    lease_until: datetime | None
    last_error_code: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    type: str = ""
    protocol: str = ""
    outbox_id: int | None = None
    retry_from: datetime | None = None
    headers: dict[str, str] | None = None

    @property
    def horizon_start(self) -> datetime:
        return self.retry_from or self.created_at


@dataclass(frozen=True, slots=True)
class Leased:
    """A leased delivery with what the sender needs: the destination and the exact bytes."""

    delivery: DeliveryRecord
    destination: Destination
    raw: bytes
    attempt_id: int
    attempt_number: int


def create(
    conn: Connection,
    *,
    destination_id: int,
    message_id: int,
    control_id: str,
    now: datetime,
    outbox_id: int | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    return int(
        conn.execute(
            sa.insert(deliveries)
            .values(
                destination_id=destination_id,
                message_id=message_id,
                control_id=control_id[:200],
                status=DeliveryStatus.PENDING.value,
                attempt_count=0,
                created_at=now,
                updated_at=now,
                retry_from=now,
                outbox_id=outbox_id,
                headers=headers or None,
            )
            .returning(deliveries.c.id)
        ).scalar_one()
    )


def for_event(conn: Connection, outbox_id: int, destination_id: int) -> int | None:
    """The delivery already made for this event and destination, if any (relay dedup)."""
    found = conn.execute(
        sa.select(deliveries.c.id).where(
            deliveries.c.outbox_id == outbox_id, deliveries.c.destination_id == destination_id
        )
    ).scalar()
    return None if found is None else int(found)


def of_event(conn: Connection, outbox_id: int) -> list[int]:
    return [
        int(i)
        for i in conn.execute(
            sa.select(deliveries.c.id)
            .where(deliveries.c.outbox_id == outbox_id)
            .order_by(deliveries.c.id)
        ).scalars()
    ]


_COLS = [
    *deliveries.c,
    destinations.c.name.label("destination"),
    sa.func.coalesce(messages.c.type, "").label("type"),
    sa.func.coalesce(messages.c.protocol, "").label("protocol"),
]


def _from() -> Any:
    return deliveries.join(
        destinations, destinations.c.id == deliveries.c.destination_id
    ).outerjoin(messages, messages.c.id == deliveries.c.message_id)


def _record(row: sa.Row[Any]) -> DeliveryRecord:
    m = row._mapping
    return DeliveryRecord(
        id=int(m["id"]),
        destination_id=int(m["destination_id"]),
        destination=m["destination"],
        message_id=m["message_id"],
        control_id=m["control_id"],
        status=DeliveryStatus(m["status"]),
        attempt_count=int(m["attempt_count"]),
        next_attempt_at=m["next_attempt_at"],
        lease_until=m["lease_until"],
        last_error_code=m["last_error_code"],
        last_error=m["last_error"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        sent_at=m["sent_at"],
        type=m["type"],
        protocol=m["protocol"],
        outbox_id=m["outbox_id"],
        retry_from=m["retry_from"],
        headers=dict(m["headers"]) if m["headers"] else None,
    )


def get(conn: Connection, delivery_id: int) -> DeliveryRecord:
    row = conn.execute(
        sa.select(*_COLS).select_from(_from()).where(deliveries.c.id == delivery_id)
    ).first()
    if row is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return _record(row)


def search(
    conn: Connection,
    *,
    status: DeliveryStatus | None = None,
    destination: str | None = None,
    message_id: int | None = None,
    limit: int | None = 100,
) -> list[DeliveryRecord]:
    """Newest first."""
    q = sa.select(*_COLS).select_from(_from()).order_by(deliveries.c.id.desc())
    if status is not None:
        q = q.where(deliveries.c.status == status.value)
    if destination is not None:
        q = q.where(destinations.c.name == destination)
    if message_id is not None:
        q = q.where(deliveries.c.message_id == message_id)
    if limit is not None:
        q = q.limit(limit)
    return [_record(r) for r in conn.execute(q)]


def _head_query(now: datetime, for_update: bool) -> sa.Select[Any]:
    """Leasable deliveries: the head of their destination's lane, the destination not paused."""
    earlier = deliveries.alias("earlier")
    blocked = (
        sa.select(sa.literal(1))
        .where(
            earlier.c.destination_id == deliveries.c.destination_id,
            earlier.c.id < deliveries.c.id,
            earlier.c.status.in_(_OPEN),
        )
        .exists()
    )
    q = (
        sa.select(*deliveries.c)
        .join(destinations, destinations.c.id == deliveries.c.destination_id)
        .where(deliveries.c.status.in_(_OPEN), destinations.c.enabled == 1)
        .where(sa.or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now))
        .where(sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now))
        .where(~blocked)
        .order_by(deliveries.c.id)
        .limit(1)
    )
    if for_update:
        q = q.with_for_update(skip_locked=True, of=deliveries)
    return q


def has_due(conn: Connection, now: datetime) -> bool:
    """Is any delivery leasable now? A read-only look (workers poll it while idle)."""
    return conn.execute(_head_query(now, for_update=False)).first() is not None


def lease(
    conn: Connection,
    *,
    now: datetime,
    lease_until: datetime,
    worker: str,
    delivery_id: int | None = None,
) -> Leased | None:
    """Lease one destination-lane head and open its attempt (stage ``deliver``)."""
    q = _head_query(now, for_update=conn.dialect.name == "postgresql")
    if delivery_id is not None:
        q = q.where(deliveries.c.id == delivery_id)
    row = conn.execute(q).first()
    if row is None:
        return None
    delivery_id = int(row.id)
    _abandon_open_attempts(conn, row.message_id, now)
    conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            lease_until=lease_until, updated_at=now, attempt_count=deliveries.c.attempt_count + 1
        )
    )
    rec = get(conn, delivery_id)
    dest = get_destination_by_id(conn, rec.destination_id)
    stored = conn.execute(sa.select(messages.c.raw).where(messages.c.id == rec.message_id)).scalar()
    raw = (
        None
        if rec.message_id is None
        else unseal(cipher_of(conn.dialect), rec.message_id, "raw", stored)
    )
    # Attempt numbers keep counting across a manual retry (which resets attempt_count for
    # the retry policy); an attempt after such a retry is marked as a replay.
    prior = int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(attempts)
            .where(attempts.c.message_id == rec.message_id, attempts.c.stage == "deliver")
        ).scalar_one()
    )
    attempt_id = int(
        conn.execute(
            sa.insert(attempts)
            .values(
                message_id=rec.message_id,
                stage="deliver",
                number=prior + 1,
                worker=worker[:100],
                replay=1 if prior >= rec.attempt_count else 0,
                started_at=now,
            )
            .returning(attempts.c.id)
        ).scalar_one()
    )
    return Leased(rec, dest, bytes(raw or b""), attempt_id, prior + 1)


def _abandon_open_attempts(conn: Connection, message_id: int | None, now: datetime) -> int:
    if message_id is None:
        return 0
    result = conn.execute(
        sa.update(attempts)
        .where(
            attempts.c.message_id == message_id,
            attempts.c.stage == "deliver",
            attempts.c.ended_at.is_(None),
        )
        .values(
            outcome="abandoned",
            ended_at=now,
            error_code="lease_expired",
            error_text="worker stopped before finishing (lease expired)",
        )
    )
    return int(result.rowcount)


def finish(
    conn: Connection,
    leased: Leased,
    new: DeliveryStatus,
    *,
    now: datetime,
    outcome: str,
    next_attempt_at: datetime | None = None,
    error_code: str | None = None,
    error_text: str | None = None,
) -> bool:
    """Record one attempt's outcome; ``False`` if the lease was lost to another worker."""
    current = leased.delivery.status
    if new not in DELIVERY_TRANSITIONS[current]:
        raise Conflict(f"illegal delivery transition {current} -> {new}", code="illegal_transition")
    values: dict[str, Any] = {
        "status": new.value,
        "updated_at": now,
        "lease_until": None,
        "next_attempt_at": next_attempt_at,
        "last_error_code": error_code,
        "last_error": error_text,
    }
    if new is DeliveryStatus.SENT:
        values["sent_at"] = now
    # attempt_count guards against a worker whose lease expired and was leased again meanwhile.
    result = conn.execute(
        sa.update(deliveries)
        .where(
            deliveries.c.id == leased.delivery.id,
            deliveries.c.status == current.value,
            deliveries.c.attempt_count == leased.delivery.attempt_count,
        )
        .values(**values)
    )
    conn.execute(
        sa.update(attempts)
        .where(attempts.c.id == leased.attempt_id)
        .values(outcome=outcome, ended_at=now, error_code=error_code, error_text=error_text)
    )
    return result.rowcount == 1


def requeue(conn: Connection, delivery_id: int, *, now: datetime) -> DeliveryStatus:
    """``failed`` / ``dead`` back to ``pending`` with a fresh retry budget; returns the old one."""
    rec = get(conn, delivery_id)
    if rec.status not in REQUEUEABLE:
        raise Conflict(
            f"delivery {delivery_id} is {rec.status}; only failed or dead "
            "deliveries can be retried",
            code="not_replayable",
        )
    conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.status == rec.status.value)
        .values(
            status=DeliveryStatus.PENDING.value,
            attempt_count=0,
            next_attempt_at=None,
            lease_until=None,
            updated_at=now,
            retry_from=now,  # a fresh horizon
        )
    )
    return rec.status


def release_expired(conn: Connection, now: datetime) -> list[int]:
    """Drop leases that ran out (the worker died mid-send); their open attempts are abandoned."""
    rows = conn.execute(
        sa.select(deliveries.c.id, deliveries.c.message_id).where(
            deliveries.c.status.in_(_OPEN), deliveries.c.lease_until < now
        )
    ).all()
    released = []
    for row in rows:
        result = conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == row.id, deliveries.c.lease_until < now)
            .values(lease_until=None, updated_at=now)
        )
        if result.rowcount == 1:
            _abandon_open_attempts(conn, row.message_id, now)
            released.append(int(row.id))
    return released


def next_due_at(conn: Connection, now: datetime) -> datetime | None:
    """When the next retry falls due (the worker sleeps until then at most).

    Only future times count: a retry already due but not leasable (its destination paused,
    a lease held by another worker) must not make idle workers spin.
    """
    return conn.execute(
        sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
            deliveries.c.status == DeliveryStatus.RETRYING.value,
            deliveries.c.next_attempt_at > now,
        )
    ).scalar()
