"""The outbox: domain events written with the PM change that caused them (docs/adr/0008).

:func:`emit` runs in the caller's transaction, so a rolled-back change leaves no event. The
relay (:mod:`hub.queue.outbox`) leases ``pending`` rows in id order and marks each ``relayed``
(with what its subscribers did) in the transaction that created its deliveries, or ``failed``
(a permanent error, kept with its PHI-free reason) so later events are not held up.

Statuses: ``pending → relayed | failed``; ``failed → pending`` by an admin (``requeue``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import NotFound
from hub.pm.events import DomainEvent, event_name, to_payload
from hub.store.prepared import run, run_many
from hub.store.tables import outbox

PENDING, RELAYED, FAILED = "pending", "relayed", "failed"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    event: str
    payload: dict[str, Any]
    status: str
    attempt_count: int
    created_at: datetime
    relayed_at: datetime | None = None
    result: dict[str, Any] | None = None
    last_error_code: str | None = None


def _row(r: Any) -> OutboxRow:
    m = r._mapping
    return OutboxRow(
        id=int(m["id"]),
        event=m["event"],
        payload=dict(m["payload"] or {}),
        status=m["status"],
        attempt_count=int(m["attempt_count"]),
        created_at=m["created_at"],
        relayed_at=m["relayed_at"],
        result=m["result"],
        last_error_code=m["last_error_code"],
    )


_EMIT = sa.insert(outbox).returning(outbox.c.id)
_EMIT_MANY = sa.insert(outbox)


def _values(event: DomainEvent, now: datetime) -> dict[str, Any]:
    return {
        "event": event_name(event),
        "payload": to_payload(event),
        "status": PENDING,
        "attempt_count": 0,
        "created_at": now,
    }


def emit(conn: Connection, event: DomainEvent, *, now: datetime) -> int:
    """Write ``event`` in the caller's transaction (a hot-path statement: every appointment
    change emits one); returns its outbox id."""
    return int(run(conn, _EMIT, _values(event, now)).scalar_one())


def emit_many(conn: Connection, events: Sequence[DomainEvent], *, now: datetime) -> None:
    """Write ``events`` in the caller's transaction, in this order (their ids follow it), by
    one ``executemany``: a FHIR transaction's appointment events at its end."""
    run_many(conn, _EMIT_MANY, [_values(e, now) for e in events])


def _due(now: datetime) -> sa.Select[Any]:
    return (
        sa.select(outbox)
        .where(outbox.c.status == PENDING)
        .where(sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now))
        .order_by(outbox.c.id)
    )


def has_pending(conn: Connection, now: datetime) -> bool:
    return conn.execute(_due(now).limit(1)).first() is not None


def lease_next(conn: Connection, now: datetime) -> OutboxRow | None:
    """The oldest due event, locked for this transaction (PostgreSQL: SKIP LOCKED; SQLite's
    ``BEGIN IMMEDIATE`` serialises relays anyway)."""
    rows = lease_due(conn, now, 1)
    return rows[0] if rows else None


def lease_due(conn: Connection, now: datetime, limit: int) -> list[OutboxRow]:
    """Up to ``limit`` of the oldest due events, in id order, locked for this transaction as
    :func:`lease_next` locks one."""
    q = _due(now).limit(limit)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return [_row(r) for r in conn.execute(q)]


def mark_relayed(
    conn: Connection, outbox_id: int, *, now: datetime, result: dict[str, Any]
) -> None:
    conn.execute(
        sa.update(outbox)
        .where(outbox.c.id == outbox_id)
        .values(
            status=RELAYED,
            relayed_at=now,
            result=result,
            attempt_count=outbox.c.attempt_count + 1,
            next_attempt_at=None,
        )
    )


def mark_attempt(
    conn: Connection,
    outbox_id: int,
    *,
    failed: bool,
    error_code: str,
    error_text: str,
    next_attempt_at: datetime | None,
) -> None:
    """A relay attempt that did not work: ``failed`` (permanent) or retried later."""
    conn.execute(
        sa.update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == PENDING)
        .values(
            status=FAILED if failed else PENDING,
            attempt_count=outbox.c.attempt_count + 1,
            next_attempt_at=next_attempt_at,
            last_error_code=error_code[:64],
            last_error=error_text[:1000],
        )
    )


def get(conn: Connection, outbox_id: int, *, wait_for_relayer: bool = False) -> OutboxRow:
    """One event. ``wait_for_relayer``: on PostgreSQL, block until a relayer holding the row
    (leased with FOR UPDATE SKIP LOCKED) commits, so its result is read, not its absence.
    SQLite needs no wait: its relays run under the one writer lock."""
    q = sa.select(outbox).where(outbox.c.id == outbox_id)
    if wait_for_relayer and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"outbox event {outbox_id} not found")
    return _row(row)


def requeue(conn: Connection, outbox_id: int) -> None:
    """Relay an event again (its subscribers skip destinations that already have a delivery)."""
    conn.execute(
        sa.update(outbox)
        .where(outbox.c.id == outbox_id)
        .values(status=PENDING, next_attempt_at=None, relayed_at=None)
    )
