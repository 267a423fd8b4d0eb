"""The outbox relay: domain events in, deliveries out, at least once and never twice.

PM changes write events into the ``outbox`` table in their own transaction
(:func:`hub.store.outbox.emit`). The relay leases the oldest pending event, hands it to every
registered subscriber *in one transaction*, and marks it relayed in that same transaction, so
an event's deliveries and its ``relayed`` mark commit together (docs/adr/0008):

- a relay that dies mid-way rolls back; the event is still pending and is relayed again;
- two relays never both take one event (PostgreSQL ``SKIP LOCKED``; SQLite has one writer);
- even so, subscribers create deliveries through
  :func:`hub.services.deliver.enqueue`, which skips a destination that already has a delivery
  for this event, and a unique index on ``deliveries(outbox_id, destination_id)`` backs it.

Events are relayed in id order. A permanent error (the appointment cannot be expressed as SIU)
marks the event ``failed`` with its reason and the relay goes on; a transient one (database
busy) stops this round and the event is tried again first, so events never overtake each other.

Subscribers are registered by the protocol packages (SIU forwarding by HL7 v2; FHIR
subscriptions and 837P batches later); the relay itself knows none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from hub.clock import Clock
from hub.errors import safe_error_text
from hub.pm.events import DomainEvent, from_payload
from hub.queue.retry import is_transient
from hub.store import audit
from hub.store import outbox as store
from hub.store.db import UnitOfWorkFactory, savepoint

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Fanout:
    """What subscribers did with one event: deliveries made, destinations deliberately skipped."""

    delivery_ids: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, other: Fanout) -> None:
        self.delivery_ids.extend(other.delivery_ids)
        self.skipped.extend(other.skipped)


@dataclass(frozen=True, slots=True)
class EventContext:
    conn: Connection
    outbox_id: int
    now: datetime


# subscriber(event, context) -> Fanout; runs inside the relay's transaction
Subscriber = Callable[[DomainEvent, EventContext], Fanout]


class OutboxRelay:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        peek_uow: UnitOfWorkFactory | None = None,
        round_uow: UnitOfWorkFactory | None = None,
        writer_wanted: Callable[[], bool] | None = None,
        retry_delay: float = 5.0,
    ) -> None:
        """``round_uow``: the unit of work of :meth:`relay_batch` (the background rounds; a
        ``background=True`` one on SQLite, so it lets a waiting ingest go first), ``uow`` if
        not given. ``writer_wanted``: asked after each event of a round; when true the round
        commits there and ends, so an ACK waits for at most one event's fan-out."""
        self.uow = uow
        self.round_uow = round_uow or uow
        self.writer_wanted = writer_wanted
        self.clock = clock
        self.peek_uow = peek_uow
        self.retry_delay = retry_delay
        self._subscribers: list[tuple[str, type[DomainEvent] | None, Subscriber]] = []

    def subscribe(
        self, name: str, subscriber: Subscriber, *, event: type[DomainEvent] | None = None
    ) -> None:
        """Register ``subscriber`` for events of type ``event`` (every event if ``None``)."""
        self._subscribers.append((name, event, subscriber))

    def relay_next(self) -> int | None:
        """Relay the oldest due event; its outbox id, or ``None`` when none is due or it must
        wait (a transient error)."""
        now = self.clock.now()
        if self.peek_uow is not None:
            with self.peek_uow() as ro:
                if not store.has_pending(ro.conn, now):
                    return None
        row: store.OutboxRow | None = None
        try:
            with self.uow() as uow:
                row = store.lease_next(uow.conn, now)
                if row is None:
                    return None
                outbox_id = row.id
                self._relay_row(uow.conn, row, now)
                uow.commit()
        except Exception as exc:  # recorded on the event; never escapes the relay
            if row is None:
                raise
            return self._failed(row.id, exc, now)
        return outbox_id

    def relay_batch(self, limit: int = 64) -> tuple[int, bool]:
        """Relay up to ``limit`` of the oldest due events in one transaction, each in its own
        savepoint with its ``relayed`` mark; returns how many were handled and whether to go
        on (False: none was due, or one must wait: a transient error ends the round).

        One writer turn and one commit for the lot instead of one each: an SIU feed emits an
        event for most messages, and a relay one event a transaction had fallen behind the
        workers. An event that raises is rolled back alone; the ones before it commit, and it
        is then recorded exactly as :meth:`relay_next` records it: failed and passed over, or
        (transient) left pending with the round ended there, none after it relayed.
        """
        now = self.clock.now()
        if self.peek_uow is not None:
            with self.peek_uow() as ro:
                if not store.has_pending(ro.conn, now):
                    return 0, False
        done = 0
        bad: tuple[int, BaseException] | None = None
        wanted = self.writer_wanted
        with self.round_uow() as uow:
            rows = store.lease_due(uow.conn, now, limit)
            for row in rows:
                try:
                    with savepoint(uow.conn):
                        self._relay_row(uow.conn, row, now)
                except Exception as exc:  # recorded on the event below; never escapes
                    bad = (row.id, exc)
                    break
                done += 1
                if wanted is not None and done < len(rows) and wanted():
                    break  # the rest stay due: the next round takes them, in order
            uow.commit()
        if bad is None:
            return done, bool(rows)
        if self._failed(bad[0], bad[1], now) is None:
            return done, False  # transient: tried again first, in a later round
        return done + 1, True

    def _relay_row(self, conn: Connection, row: store.OutboxRow, now: datetime) -> None:
        """Fan ``row`` out to the subscribers and mark it relayed with what they did."""
        fanout = self._fan_out(conn, row.event, row.payload, row.id, now)
        store.mark_relayed(
            conn,
            row.id,
            now=now,
            result={"deliveries": fanout.delivery_ids, "skipped": fanout.skipped},
        )

    def _fan_out(
        self, conn: Connection, name: str, payload: dict[str, object], outbox_id: int, now: datetime
    ) -> Fanout:
        event = from_payload(name, dict(payload))
        ctx = EventContext(conn, outbox_id, now)
        total = Fanout()
        for _, wanted, subscriber in self._subscribers:
            if wanted is None or isinstance(event, wanted):
                total.add(subscriber(event, ctx))
        return total

    def _failed(self, outbox_id: int, exc: BaseException, now: datetime) -> int | None:
        code, text = safe_error_text(exc)
        transient = is_transient(exc)
        with self.uow() as uow:
            store.mark_attempt(
                uow.conn,
                outbox_id,
                failed=not transient,
                error_code=code,
                error_text=text,
                next_attempt_at=now + timedelta(seconds=self.retry_delay) if transient else None,
            )
            if not transient:
                audit.append(
                    uow.conn,
                    at=now,
                    actor="outbox",
                    action="outbox.failed",
                    object_type="outbox",
                    object_id=outbox_id,
                    detail={"error_code": code},
                )
            uow.commit()
        log.warning("outbox event not relayed", extra={"outbox_id": outbox_id, "error_code": code})
        return None if transient else outbox_id

    def run_until_idle(self, limit: int = 10_000, *, batch: int = 64) -> int:
        """Relay every due event in the calling thread, ``batch`` a transaction; returns how
        many were handled."""
        done = 0
        while done < limit:
            handled, more = self.relay_batch(min(batch, limit - done))
            done += handled
            if not more:
                break
        return done

    def relay_through(self, outbox_id: int) -> Fanout:
        """Relay due events up to ``outbox_id`` (in order) and return what that one produced.

        A service that wants to report its deliveries at once calls this right after its commit;
        if another process relayed the event first, its stored result is read back.
        """
        while True:
            with self.uow() as uow:
                row = store.get(uow.conn, outbox_id)
            if row.status != store.PENDING:
                break
            handled = self.relay_next()
            if handled is None or handled >= outbox_id:
                break
        with self.uow() as uow:
            # relay_next skips a row another relayer has leased: wait for its commit, or the
            # caller would report no deliveries for an event that is being fanned out
            row = store.get(uow.conn, outbox_id, wait_for_relayer=True)
        result = row.result or {}
        return Fanout(list(result.get("deliveries", [])), list(result.get("skipped", [])))
