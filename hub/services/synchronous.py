"""Answer now when the caller waits (DESIGN.md section 3, step 5a; ADR 0010).

:meth:`SynchronousService.submit` stores a document exactly as ingest does (one transaction,
audit, duplicate checks), then tries to lease *that* unit in the caller's thread and process it
through the same pipeline (prepare step, fenced transaction, audit, retry policy), and answers
with the result. It never jumps a lane: a unit is leased only as the head of all its lanes, so
when an earlier pending unit shares one of its keys (the lane is busy), or the caller asked for
an asynchronous answer, or the unit is a document to split, it answers ``accepted`` (the HTTP
layer maps that to 202) and the queue finishes the work in lane order.

Nothing is lost if the caller goes away: the unit is stored before any processing, and a unit
that was never dispatched is found by the sweeper.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.queue.dispatch import Dispatcher
from hub.queue.pipeline import Pipeline
from hub.services.ingest import AnswerBuilder, Inbound, IngestOutcome, IngestService, Stored
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory
from hub.store.lifecycle import Status


class SyncOutcome(StrEnum):
    PROCESSED = "processed"  # applied in this request
    FAILED = "failed"  # a permanent error, recorded on the message (its reason below)
    ACCEPTED = "accepted"  # stored; the queue applies it (lane busy, async asked, retrying)
    DUPLICATE = "duplicate"  # byte-identical resend: the original answer, nothing applied
    HELD = "held"  # same sender + control id, new bytes: stored, held for review
    REJECTED = "rejected"  # the adapter refused it: stored as failed with its reason


@dataclass(frozen=True, slots=True)
class SyncResult:
    message_id: int
    outcome: SyncOutcome
    status: Status
    stored: Stored
    error_code: str | None = None
    error: str | None = None  # no PHI (the pipeline's safe error text)


_NOT_STORED = {
    IngestOutcome.DUPLICATE: SyncOutcome.DUPLICATE,
    IngestOutcome.HELD: SyncOutcome.HELD,
    IngestOutcome.REJECTED: SyncOutcome.REJECTED,
}
_BY_STATUS = {
    Status.PROCESSED: SyncOutcome.PROCESSED,
    Status.FAILED: SyncOutcome.FAILED,
    Status.DEAD: SyncOutcome.FAILED,
}


class SynchronousService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        ingest: IngestService,
        pipeline: Pipeline,
        dispatcher: Dispatcher,
    ) -> None:
        self.uow = uow
        self.ingest = ingest
        self.pipeline = pipeline
        self.dispatcher = dispatcher

    def submit(
        self,
        inbound: Inbound,
        answer: AnswerBuilder | None = None,
        *,
        actor: str = "feed",
        respond_async: bool = False,
        worker: str = "sync",
    ) -> SyncResult:
        """Store ``inbound``; process it now unless its lane is busy or ``respond_async``."""
        stored = self.ingest.ingest(inbound, answer, actor=actor, dispatch=False)
        if stored.outcome is not IngestOutcome.STORED:
            return self._result(stored, _NOT_STORED[stored.outcome])
        registry = self.pipeline.registry
        if respond_async or registry.lookup_splitter(inbound.protocol, inbound.type):
            return self._accepted(stored)
        outcome = self.pipeline.run_next(worker, message_id=stored.message_id)
        if outcome is None:  # not its lanes' head: an earlier unit goes first
            return self._accepted(stored)
        found = _BY_STATUS.get(outcome.status)
        if found is None:  # retrying (transient error) or lease lost: the queue finishes it
            return self._result(stored, SyncOutcome.ACCEPTED)
        return self._result(stored, found)

    def _accepted(self, stored: Stored) -> SyncResult:
        self.dispatcher.dispatch(stored.message_id)
        return self._result(stored, SyncOutcome.ACCEPTED)

    def _result(self, stored: Stored, outcome: SyncOutcome) -> SyncResult:
        with self.uow() as uow:
            rec = store.get(uow.conn, stored.message_id, with_raw=False)
        return SyncResult(
            message_id=stored.message_id,
            outcome=outcome,
            status=rec.status,
            stored=stored,
            error_code=rec.last_error_code,
            error=rec.last_error,
        )
