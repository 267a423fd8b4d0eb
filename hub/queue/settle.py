"""The writes that end a lease, shared by the pipeline and the document split."""

from __future__ import annotations

from dataclasses import dataclass
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
) -> None:
    """End a lease: the unit leaves PROCESSING, its attempt closes, the audit log says so.
    The three writes every ending makes, in the caller's transaction; an item's ending also
    brings its document's summary up to date (ADR 0009), unless ``summarise`` is False: the
    caller settles several items of the document in this transaction and summarises it once,
    after the last."""
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
    store.end_attempt(
        conn,
        attempt_id,
        outcome=outcome,
        now=now,
        error_code=attempt_error[0],
        error_text=attempt_error[1],
    )
    audit.append(
        conn,
        at=now,
        actor="pipeline",
        action=f"message.{status.value}",
        object_type="message",
        object_id=rec.id,
        detail=detail,
    )
    if summarise and rec.document_id is not None:
        items.summarise(conn, rec.document_id, now)
