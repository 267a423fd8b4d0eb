"""The writes that end a lease, shared by the pipeline and the document split."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from hub.store import audit, items
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.messages import MessageRecord


@dataclass(frozen=True, slots=True)
class Outcome:
    message_id: int
    status: Status
    lane_keys: tuple[str, ...] = ()

    @property
    def lane_key(self) -> str | None:
        """The lane a Celery task follows (the first key)."""
        return self.lane_keys[0] if self.lane_keys else None


class LeaseLost(Exception):
    """Internal: the lease was taken back by the sweeper before this worker finished."""


@dataclass(slots=True)
class Deferred:
    """The endings of units settled in one shared transaction, written after the last unit's
    savepoint (:meth:`flush`) with a few statements for the lot instead of four per unit:
    the ``processed`` transitions and their lane keys (two statements, units outside a
    document only: a document's summary reads its items' statuses), then the attempt ends
    and the audit events (one ``executemany`` each). A savepoint rolled back after its units
    were settled drops their entries with :meth:`mark` and :meth:`drop_to`."""

    ends: list[dict[str, Any]] = field(default_factory=list)
    events: list[audit.Event] = field(default_factory=list)
    processed: list[int] = field(default_factory=list)
    processed_at: datetime | None = None

    def mark(self) -> tuple[int, int, int]:
        return len(self.ends), len(self.events), len(self.processed)

    def drop_to(self, mark: tuple[int, int, int]) -> None:
        del self.ends[mark[0] :]
        del self.events[mark[1] :]
        del self.processed[mark[2] :]

    def flush(self, conn: Connection) -> None:
        """Write what was deferred, in the caller's transaction, in settling order."""
        if self.processed:
            assert self.processed_at is not None
            store.processed_many(conn, self.processed, now=self.processed_at)
        store.end_attempts(conn, self.ends)
        audit.append_many(conn, self.events)
        self.ends.clear()
        self.events.clear()
        self.processed.clear()


def settle(
    conn: Connection,
    rec: MessageRecord,
    attempt_id: int,
    *,
    now: datetime,
    status: Status,
    outcome: str,
    next_at: datetime | None = None,
    message_error: tuple[str | None, str | None] = (None, None),
    attempt_error: tuple[str | None, str | None] = (None, None),
    detail: dict[str, Any],
    summarise: bool = True,
    deferred: Deferred | None = None,
) -> None:
    """End a lease: the unit leaves PROCESSING, its attempt closes, the audit log says so.
    The three writes every ending makes, in the caller's transaction; an item's ending also
    brings its document's summary up to date (ADR 0009), unless ``summarise`` is False: the
    caller settles several items of the document in this transaction and summarises it once,
    after the last. With ``deferred``, the attempt's end and the audit event are left to its
    :meth:`Deferred.flush` in the same transaction, and so is a plain ``processed`` (no
    error, no document)."""
    plain = status is Status.PROCESSED and message_error == (None, None) and next_at is None
    if deferred is not None and plain and rec.document_id is None:
        deferred.processed.append(rec.id)
        deferred.processed_at = now
    else:
        store.transition(
            conn,
            rec.id,
            Status.PROCESSING,
            status,
            now=now,
            lease_until=None,
            next_attempt_at=next_at,
            last_error_code=message_error[0],
            last_error=message_error[1],
        )
    end = store.attempt_end(attempt_id, outcome, now, attempt_error[0], attempt_error[1])
    event = audit.Event(
        at=now,
        actor="pipeline",
        action=f"message.{status.value}",
        object_type="message",
        object_id=rec.id,
        detail=detail,
    )
    sink = deferred if deferred is not None else Deferred()
    sink.ends.append(end)
    sink.events.append(event)
    if deferred is None:
        sink.flush(conn)
    if summarise and rec.document_id is not None:
        items.summarise(conn, rec.document_id, now)
