"""Replay from stored raw bytes (DESIGN.md section 3, step 7).

Replaying puts messages back to ``received``: the lanes then process them in original (id)
order. An edited replay stores the edited bytes as a new revision linked to the original and
processes that. Who, when, what and why go to the audit log.

Documents of many items (ADR 0009): an item replays alone, like a message, and its document's
summary goes back to ``split``. Replaying a document whose split completed replays its
replayable items (the split is not repeated); one whose split failed is split again, resuming
after the items already stored. An edited item is stored as a revision of the original item in
the same document, re-read by the protocol's item peeker.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from hub.clock import Clock
from hub.errors import Conflict, ValidationError
from hub.queue.dispatch import Dispatcher
from hub.queue.registry import ItemPeeker
from hub.services.ingest import Inbound, IngestOutcome, IngestService
from hub.store import audit, items, lanes
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory
from hub.store.lifecycle import REPLAYABLE, SUPERSEDABLE, Status

RAW_GONE = "its raw content is gone (purged): there is nothing to replay from"

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
        item_peeker: Callable[[str], ItemPeeker | None] | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.dispatcher = dispatcher
        self.ingest = ingest
        self.peekers = peekers
        self.item_peeker = item_peeker

    def plan(self, flt: store.MessageFilter) -> ReplayPlan:
        """What a replay would touch, in original order; pending messages are skipped."""
        with self.uow() as uow:
            recs = store.search(uow.conn, replace(flt, newest_first=False, offset=0))
            gone = store.without_raw(uow.conn, [r.id for r in recs])
        ok = [
            r.id
            for r in recs
            if r.status in REPLAYABLE and r.direction == "in" and r.id not in gone
        ]
        skipped = [
            (r.id, RAW_GONE if r.id in gone else f"status is {r.status}")
            for r in recs
            if r.status not in REPLAYABLE or r.direction != "in" or r.id in gone
        ]
        return ReplayPlan(ok, skipped)

    def replay(
        self, ids: Sequence[int], *, actor: str, reason: str = "", batch: int = 200
    ) -> Iterator[int]:
        """Re-queue ``ids`` in ascending order; yields each id once queued (for progress)."""
        # an id given twice would fail its second transition (received -> received) and abort
        # the batch after earlier batches were committed
        ordered = sorted(set(self._units(ids)))
        for start in range(0, len(ordered), batch):
            chunk = ordered[start : start + batch]
            now = self.clock.now()
            with self.uow() as uow:
                recs = [store.get(uow.conn, i, with_raw=False) for i in chunk]
                gone = store.without_raw(uow.conn, chunk)
                items.lock_documents(uow.conn, [r.document_id for r in recs])
                for rec in recs:
                    message_id = rec.id
                    if message_id in gone:
                        raise Conflict(f"message {message_id}: {RAW_GONE}", code="raw_gone")
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
                    if rec.document_id is not None:  # the document is pending again
                        items.summarise(uow.conn, rec.document_id, now)
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

    def _units(self, ids: Sequence[int]) -> list[int]:
        """The units a replay of ``ids`` puts back: a split document stands for its items."""
        found: list[int] = []
        with self.uow() as uow:
            for message_id in ids:
                rec = store.get(uow.conn, message_id, with_raw=False)
                if items.is_summary(rec.status, rec.last_error_code) and items.has_items(
                    uow.conn, message_id
                ):
                    found.extend(items.replayable_items(uow.conn, message_id))
                else:
                    found.append(message_id)
        return found

    def replay_edited(self, message_id: int, raw: bytes, *, actor: str, reason: str = "") -> int:
        """Store ``raw`` as a new revision of ``message_id`` and queue it; the original becomes
        ``superseded`` (unless it is still pending: then it keeps its own course)."""
        with self.uow() as uow:
            original = store.get(uow.conn, message_id, with_raw=False)
        if original.document_id is not None:
            return self._replay_edited_item(original, raw, actor=actor, reason=reason)
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

    def _replay_edited_item(
        self, original: store.MessageRecord, raw: bytes, *, actor: str, reason: str
    ) -> int:
        """An edited item: a revision in the same document, in the lanes its bytes name."""
        peek = self.item_peeker(original.protocol) if self.item_peeker is not None else None
        if peek is None or original.document_id is None:
            raise ValidationError(
                f"editing {original.protocol} items is not supported", code="edit_unsupported"
            )
        item = peek(raw, original.type)
        sha = hashlib.sha256(raw).hexdigest()
        now = self.clock.now()
        with self.uow() as uow:
            items.lock_documents(uow.conn, [original.document_id])
            lanes.lock_lanes(uow.conn, *item.lane_keys)
            revision = store.insert(
                uow.conn,
                store.NewMessage(
                    protocol=original.protocol,
                    raw=raw,
                    sha256=sha,
                    status=Status.RECEIVED,
                    received_at=now,
                    sender=original.sender,
                    receiver=original.receiver,
                    control_id=item.control_id,
                    type=item.type,
                    lane_keys=item.lane_keys,
                    patient_refs=item.patient_refs,
                    # every revision names the original item: the summary asks "was a
                    # revision of it processed?" by that one id
                    revision_of=original.revision_of or original.id,
                    document_id=original.document_id,
                ),
            )
            audit.append(
                uow.conn,
                at=now,
                actor=actor,
                action="message.edit",
                object_type="message",
                object_id=original.id,
                detail={"revision": revision, "sha256": sha, "reason": reason},
            )
            items.summarise(uow.conn, original.document_id, now)
            uow.commit()
        self.dispatcher.dispatch(revision)
        return revision
