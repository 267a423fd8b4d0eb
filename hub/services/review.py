"""Admin use case: close a held or failed message without replaying it (issue 10, item 22).

The message becomes ``resolved`` (see :mod:`hub.store.lifecycle`), leaves the held / failed
lists, and the audit log records who closed it and why. A resolved message can still be
replayed if closing it was a mistake.
"""

from __future__ import annotations

from hub.clock import Clock
from hub.errors import Conflict, ValidationError
from hub.store import audit
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory
from hub.store.lifecycle import RESOLVABLE, Status


def resolve_message(
    uow_factory: UnitOfWorkFactory, clock: Clock, message_id: int, *, actor: str, reason: str
) -> Status:
    """Mark ``message_id`` resolved; returns the status it had. A reason is required."""
    if not reason.strip():
        raise ValidationError("a reason is required to resolve a message", code="reason_required")
    now = clock.now()
    with uow_factory() as uow:
        rec = store.get(uow.conn, message_id, with_raw=False)
        if rec.status not in RESOLVABLE:
            raise Conflict(
                f"message {message_id} is {rec.status}; only "
                + ", ".join(sorted(s.value for s in RESOLVABLE))
                + " messages can be resolved",
                code="not_resolvable",
            )
        store.transition(uow.conn, message_id, rec.status, Status.RESOLVED, now=now)
        audit.append(
            uow.conn,
            at=now,
            actor=actor,
            action="message.resolve",
            object_type="message",
            object_id=message_id,
            detail={"from_status": rec.status.value, "reason": reason[:1000]},
        )
        uow.commit()
    return rec.status
