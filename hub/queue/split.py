"""Split a stored document into work items, in bounded batches (ADR 0009).

The document is leased like any message; its "processing" is this split:

1. items are pulled from the protocol's splitter *outside* any transaction (parsing a 30,000
   claim file never holds the writer);
2. every ``split_batch`` items, one short transaction re-checks the lease (fenced by the
   attempt, as a processor's transaction is), inserts the items with their lane keys, and
   extends the lease; after the commit the items are dispatched, so workers apply the first
   items while later ones are still being split, and an HL7 ACK waits at most for one batch;
3. the last transaction ends the lease with status ``split`` and summarises the document.

A split that dies (worker killed, database gone) resumes where its committed items end: a
splitter is deterministic, and an item's place in the document is unique (an index).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from hub.queue.registry import Splitter, WorkItem
from hub.queue.settle import LeaseLost, Outcome, settle
from hub.store import items, lanes
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.messages import MessageRecord, NewMessage

if TYPE_CHECKING:
    from hub.queue.pipeline import Pipeline

log = logging.getLogger(__name__)


def split_document(
    pipeline: Pipeline, rec: MessageRecord, attempt_id: int, splitter: Splitter
) -> Outcome:
    """Split ``rec`` (leased under ``attempt_id``); failures are recorded like a processor's."""
    try:
        count = _split(pipeline, rec, attempt_id, splitter(rec))
    except LeaseLost:
        return pipeline.lost(rec)
    except Exception as exc:  # a splitter that raises fails (or retries) the document
        return pipeline.record_failure(rec, attempt_id, exc)
    log.info("document split", extra={"message_id": rec.id, "items": count})
    pipeline.wake_other_lanes(rec)
    return Outcome(rec.id, Status.SPLIT, rec.lane_keys)


def _split(
    pipeline: Pipeline, rec: MessageRecord, attempt_id: int, found: Iterable[WorkItem]
) -> int:
    with pipeline.uow() as uow:
        start = items.next_item_index(uow.conn, rec.id)
    batch: list[tuple[int, WorkItem]] = []
    total = start
    for index, item in enumerate(found):
        total = index + 1
        if index < start:  # stored by an earlier, interrupted split
            continue
        batch.append((index, item))
        if len(batch) >= pipeline.split_batch:
            _store(pipeline, rec, attempt_id, batch, total=None)
            batch = []
    _store(pipeline, rec, attempt_id, batch, total=total)
    return total


def _store(
    pipeline: Pipeline,
    rec: MessageRecord,
    attempt_id: int,
    batch: list[tuple[int, WorkItem]],
    *,
    total: int | None,
) -> None:
    """One short transaction: a batch of items, and (``total`` given) the end of the split."""
    now = pipeline.clock.now()
    with pipeline.uow() as uow:
        if not lanes.still_ours(uow.conn, rec.id, attempt_id):
            raise LeaseLost(rec.id)
        # id order is commit order within a lane (PostgreSQL; see lanes.lock_lanes)
        lanes.lock_lanes(uow.conn, *{k for _, item in batch for k in item.lane_keys})
        ids = [store.insert(uow.conn, _new_item(rec, index, item, now)) for index, item in batch]
        if total is None:
            lanes.extend_lease(uow.conn, rec.id, now + pipeline.lease)
        else:
            settle(
                uow.conn,
                rec,
                attempt_id,
                now=now,
                status=Status.SPLIT,
                outcome="ok",
                detail={"type": rec.type, "attempt": rec.attempt_count + 1, "items": total},
            )
            items.summarise(uow.conn, rec.id, now)
        uow.commit()
    for item_id in ids:
        pipeline.dispatcher.dispatch(item_id)


def _new_item(rec: MessageRecord, index: int, item: WorkItem, now: datetime) -> NewMessage:
    return NewMessage(
        protocol=rec.protocol,
        raw=item.raw,
        sha256=hashlib.sha256(item.raw).hexdigest(),
        status=Status.RECEIVED,
        received_at=now,  # when the item became known (the document's own is on it)
        sender=rec.sender,
        receiver=rec.receiver,
        control_id=item.control_id,
        type=item.type,
        lane_keys=item.lane_keys,
        patient_refs=item.patient_refs,
        document_id=rec.id,
        item_index=index,
    )
