"""Replay from stored raw bytes (DESIGN.md section 3, step 7).

Replaying puts messages back to ``received``: the lanes then process them in original (id)
order. An edited replay stores the edited bytes as a new revision linked to the original and
processes that. Who, when, what and why go to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from hub.clock import Clock
from hub.errors import Conflict, ValidationError
from hub.queue.dispatch import Dispatcher
from hub.services.ingest import Inbound, IngestOutcome, IngestService
from hub.store import audit
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory
from hub.store.lifecycle import REPLAYABLE, SUPERSEDABLE, Status

# Re-reads the header of edited bytes (lane, type, control id); registered per protocol.
Peeker = Callable[[bytes], Inbound]


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    ids: list[int]
    skipped: list[tuple[int, str]]  # (id, reason)


class ReplayService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        dispatcher: Dispatcher,
        ingest: IngestService,
        peekers: dict[str, Peeker],
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.dispatcher = dispatcher
        self.ingest = ingest
        self.peekers = peekers

    def plan(self, flt: store.MessageFilter) -> ReplayPlan:
        """What a replay would touch, in original order; pending messages are skipped."""
        with self.uow() as uow:
            recs = store.search(uow.conn, replace(flt, newest_first=False, offset=0))
        ok = [r.id for r in recs if r.status in REPLAYABLE and r.direction == "in"]
        skipped = [
            (r.id, f"status is {r.status}")
            for r in recs
            if r.status not in REPLAYABLE or r.direction != "in"
        ]
        return ReplayPlan(ok, skipped)

    def replay(
        self, ids: Sequence[int], *, actor: str, reason: str = "", batch: int = 200
    ) -> Iterator[int]:
        """Re-queue ``ids`` in ascending order; yields each id once queued (for progress)."""
        # an id given twice would fail its second transition (received -> received) and abort
        # the batch after earlier batches were committed
        ordered = sorted(set(ids))
        for start in range(0, len(ordered), batch):
            chunk = ordered[start : start + batch]
            now = self.clock.now()
            with self.uow() as uow:
                for message_id in chunk:
                    rec = store.get(uow.conn, message_id, with_raw=False)
                    if rec.status not in REPLAYABLE:
                        raise Conflict(
                            f"message {message_id} is {rec.status}; only "
                            "processed, failed, dead, held or resolved messages replay",
                            code="not_replayable",
                        )
                    store.transition(
                        uow.conn,
                        message_id,
                        rec.status,
                        Status.RECEIVED,
                        now=now,
                        next_attempt_at=None,
                        replay_requested=1,
                    )
                    audit.append(
                        uow.conn,
                        at=now,
                        actor=actor,
                        action="message.replay",
                        object_type="message",
                        object_id=message_id,
                        detail={"from_status": rec.status.value, "reason": reason},
                    )
                uow.commit()
            for message_id in chunk:
                self.dispatcher.dispatch(message_id)
                yield message_id

    def replay_edited(self, message_id: int, raw: bytes, *, actor: str, reason: str = "") -> int:
        """Store ``raw`` as a new revision of ``message_id`` and queue it; the original becomes
        ``superseded`` (unless it is still pending: then it keeps its own course)."""
        with self.uow() as uow:
            original = store.get(uow.conn, message_id, with_raw=False)
        peek = self.peekers.get(original.protocol)
        if peek is None:
            raise ValidationError(
                f"editing {original.protocol} messages is not supported", code="edit_unsupported"
            )
        head = peek(raw)
        if head.rejected is not None:
            raise head.rejected
        # the peeker's own look at the edited bytes, stored as a revision of the original
        revision = replace(head, protocol=original.protocol, raw=raw, revision_of=message_id)
        stored = self.ingest.ingest(revision, actor=actor)
        assert stored.outcome is IngestOutcome.STORED
        with self.uow() as uow:
            # the original leaves the failed / held lists: its revision carries the work on
            current = store.get(uow.conn, message_id, with_raw=False).status
            if current in SUPERSEDABLE:
                store.transition(
                    uow.conn, message_id, current, Status.SUPERSEDED, now=self.clock.now()
                )
            audit.append(
                uow.conn,
                at=self.clock.now(),
                actor=actor,
                action="message.edit",
                object_type="message",
                object_id=message_id,
                detail={"revision": stored.message_id, "sha256": stored.sha256, "reason": reason},
            )
            uow.commit()
        return stored.message_id
