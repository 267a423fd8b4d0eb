"""Lease a lane head, run its processor, record the outcome: DESIGN.md section 3, step 4 and 6.

Three short transactions per unit of work (a single-unit message or a document's work item):

1. lease: status ``processing`` with a lease, and an attempt row (survives a crash: the sweeper
   marks it *abandoned* once the lease expires);
2. process: the processor's PM changes, the ``processed`` status, the attempt's end and the audit
   event commit together, so a change is applied exactly once or not at all;
3. only on error: the retry decision (``retrying`` with ``next_attempt_at``, ``failed`` or
   ``dead``), the attempt's error and the audit event.

A document with a splitter (ADR 0009) is leased the same way; its processing is the split
(:mod:`hub.queue.split`), in bounded batches of short transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from hub.clock import Clock
from hub.errors import StoreUnavailable, safe_error_text
from hub.queue.dispatch import Dispatcher
from hub.queue.registry import ProcessContext, ProcessorRegistry, Splitter
from hub.queue.retry import Action, RetryPolicy, is_transient
from hub.queue.settle import Deferred, LeaseLost, Outcome, settle
from hub.queue.split import split_document
from hub.store import items, lanes, receipts
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory, savepoint
from hub.store.lifecycle import Status
from hub.store.messages import MessageRecord

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        registry: ProcessorRegistry,
        policy: RetryPolicy,
        clock: Clock,
        dispatcher: Dispatcher,
        lease_seconds: float = 60.0,
        peek_uow: UnitOfWorkFactory | None = None,
        split_batch: int = 200,
        redo_uow: UnitOfWorkFactory | None = None,
        writer_wanted: Callable[[], bool] | None = None,
        yield_after: int = 16,
        read_uow: UnitOfWorkFactory | None = None,
    ) -> None:
        self.uow = uow
        # the asynchronous workers' leases and applies: rebuilt from durable raw messages after
        # a crash, so they commit without waiting for the disk (hub.store.db, ADR 0025); the
        # synchronous path answers a caller from its apply and stays on ``uow``
        self.redo_uow = redo_uow or uow
        self.registry = registry
        self.policy = policy
        self.clock = clock
        self.dispatcher = dispatcher
        self.lease = timedelta(seconds=lease_seconds)
        self.peek_uow = peek_uow
        # the look for a lane's next head after a drain: a read, never a turn at a writer (on
        # PostgreSQL no transaction at all, hub.store.db)
        self.read_uow = read_uow or peek_uow or self.redo_uow
        self.split_batch = split_batch
        # SQLite: is an ingest waiting for the writer? (run_batch then commits and lets it in)
        self.writer_wanted = writer_wanted or _never
        self.yield_after = yield_after

    def run_next(
        self,
        worker: str,
        *,
        message_id: int | None = None,
        lane_key: str | None = None,
        redoable: bool = False,
    ) -> Outcome | None:
        """Lease and process one lane head; ``None`` when nothing is leasable. ``redoable``:
        nobody waits on the answer (a queue worker), so the commits need not wait for the disk."""
        uow = self.redo_uow if redoable else self.uow
        leased = self._lease(worker, message_id=message_id, lane_key=lane_key, uow=uow)
        if leased is None:
            return None
        rec, attempt_id = leased
        return self._process(rec, attempt_id, uow=uow)

    def drain_lane(self, worker: str, first: int, *, limit: int = 20) -> int:
        """Process ``first`` if it is its lane's head, then the lane's following heads.

        Following the lane saves a broker round trip per message, but a busy lane must not hold
        a worker while other lanes' tasks wait behind it: after ``limit`` messages the lane's
        head is handed back to the broker (the end of the queue) and this task returns.
        """
        outcome = self.run_next(worker, message_id=first, redoable=True)
        done = 0
        while outcome is not None and outcome.lane_key is not None and done + 1 < limit:
            done += 1
            outcome = self.run_next(worker, lane_key=outcome.lane_key, redoable=True)
        if outcome is not None and outcome.lane_key is not None:
            self._dispatch_lane_head(outcome.lane_key)
        return done + (1 if outcome is not None else 0)

    def _dispatch_lane_head(self, lane_key: str) -> None:
        with self.read_uow() as uow:
            head = lanes.peek_head(uow.conn, now=self.clock.now(), lane_key=lane_key)
        if head is not None:
            self.dispatcher.dispatch(head)

    def _lease(
        self,
        worker: str,
        *,
        message_id: int | None,
        lane_key: str | None,
        uow: UnitOfWorkFactory | None = None,
    ) -> tuple[MessageRecord, int] | None:
        now = self.clock.now()
        if self.peek_uow is not None and message_id is None:
            # SQLite: look for a head in a read-only snapshot first, so an idle worker's empty
            # lease never queues for the single writer lock (ingest waits there). The write
            # transaction below re-checks that the message is still a leasable head.
            with self.peek_uow() as ro:
                message_id = lanes.peek_head(ro.conn, now=now, lane_key=lane_key)
            if message_id is None:
                return None
            lane_key = None
        elif lane_key is not None and message_id is None:
            # no snapshot peek (PostgreSQL): the lane's only possible head is looked up outside
            # the transaction, one round trip; a drain ends on an empty lane each time, which
            # then costs no BEGIN and ROLLBACK. The lease checks by id that it is still a
            # leasable head.
            with self.read_uow() as ro:
                message_id = lanes.earliest_pending(ro.conn, lane_key)
            if message_id is None:
                return None
            lane_key = None
        with (uow or self.uow)() as work:
            rec = lanes.lease(
                work.conn,
                now=now,
                lease_until=now + self.lease,
                message_id=message_id,
                lane_key=lane_key,
            )
            if rec is None:
                return None
            attempt_id = _open_attempt(work.conn, rec, worker, now)
            work.commit()
        return rec, attempt_id

    def _process(
        self, rec: MessageRecord, attempt_id: int, *, uow: UnitOfWorkFactory | None = None
    ) -> Outcome:
        splitter = self.splitter_for(rec)
        if splitter is not None:
            return split_document(self, rec, attempt_id, splitter)
        try:
            prepared = self._prepare(rec)
            with (uow or self.uow)() as work:
                self._apply(work.conn, rec, attempt_id, prepared)
                work.commit()
        except LeaseLost:
            return self.lost(rec)
        except Exception as exc:  # every failure is recorded; none escapes the worker
            return self.record_failure(rec, attempt_id, exc)
        return self._processed(rec)

    def splitter_for(self, rec: MessageRecord) -> Splitter | None:
        """A document's splitter; None for a single unit and for an item (never split again,
        whatever its type)."""
        if rec.document_id is not None:
            return None
        return self.registry.lookup_splitter(rec.protocol, rec.type)

    def _prepare(self, rec: MessageRecord) -> Any:
        """The processor's pure step (parse, validate, map), before any transaction."""
        prepare = self.registry.lookup_prepare(rec.protocol, rec.type)
        return None if prepare is None else prepare(rec, self.clock)

    def _apply(
        self,
        conn: Connection,
        rec: MessageRecord,
        attempt_id: int,
        prepared: Any,
        deferred: Deferred | None = None,
        *,
        fenced: bool = False,
    ) -> None:
        """Run the processor and record ``processed``, in the caller's transaction.
        ``fenced``: the caller already checked the lease in this transaction
        (:func:`lanes.still_ours_many`, which holds until it ends)."""
        items.lock_documents(conn, [rec.document_id])  # lock order: see items.lock_documents
        if not fenced and not lanes.still_ours(conn, rec.id, attempt_id):
            raise LeaseLost(rec.id)
        processor = self.registry.lookup(rec.protocol, rec.type)
        ctx = ProcessContext(rec, conn, self.clock, rec.replay_requested, prepared=prepared)
        processor(ctx)
        self._settle_ok(ctx, attempt_id, deferred=deferred)

    def _settle_ok(
        self,
        ctx: ProcessContext,
        attempt_id: int,
        *,
        summarise: bool = True,
        deferred: Deferred | None = None,
    ) -> None:
        rec = ctx.message
        settle(
            ctx.conn,
            rec,
            attempt_id,
            now=self.clock.now(),
            status=Status.PROCESSED,
            outcome="ok",
            attempt_error=(
                "warning" if ctx.warnings else None,
                "; ".join(str(w) for w in ctx.warnings)[:1000] or None,
            ),
            detail={
                "type": rec.type,
                "attempt": rec.attempt_count + 1,
                "replay": rec.replay_requested,
            },
            summarise=summarise,
            deferred=deferred,
        )

    def _apply_group(
        self,
        conn: Connection,
        group: list[tuple[MessageRecord, int, Any]],
        deferred: Deferred,
    ) -> bool:
        """Apply units of one type with their batch processor in one savepoint, then settle
        them (their documents summarised once, after the last). False, with nothing of it
        left applied, when anything raised: the caller then applies them one by one, so a
        bad unit fails alone and the others still apply (ADR 0027). The caller has fenced
        their leases for this transaction (:func:`lanes.still_ours_many`)."""
        first = group[0][0]
        many = self.registry.lookup_many(first.protocol, first.type)
        assert many is not None
        mark = deferred.mark()
        try:
            with savepoint(conn):
                ctxs: list[tuple[ProcessContext, int]] = []
                for rec, attempt_id, prepared in group:
                    ctx = ProcessContext(
                        rec, conn, self.clock, rec.replay_requested, prepared=prepared
                    )
                    ctxs.append((ctx, attempt_id))
                many([ctx for ctx, _ in ctxs])
                for ctx, attempt_id in ctxs:
                    self._settle_ok(ctx, attempt_id, summarise=False, deferred=deferred)
                now = self.clock.now()
                for doc in sorted({r.document_id for r, _, _ in group if r.document_id}):
                    items.summarise(conn, doc, now)
        except Exception as exc:  # every unit is applied again, alone
            deferred.drop_to(mark)  # their savepoint is gone, and its settling with it
            log.info(
                "batched apply failed; applying one by one",
                extra={"count": len(group), "error": type(exc).__name__},
            )
            return False
        return True

    def _groups(
        self, ready: list[tuple[MessageRecord, int, Any]]
    ) -> list[list[tuple[MessageRecord, int, Any]]]:
        """Units whose type has a batch processor, grouped by type (heads of different lanes:
        their order does not matter), at most ``yield_after`` to a group (a transaction may
        end between groups, never inside one); every other unit alone, in order."""
        groups: list[list[tuple[MessageRecord, int, Any]]] = []
        by_type: dict[tuple[str, str], list[tuple[MessageRecord, int, Any]]] = {}
        for unit in ready:
            rec = unit[0]
            if self.registry.lookup_many(rec.protocol, rec.type) is None:
                groups.append([unit])
                continue
            key = (rec.protocol, rec.type)
            if key not in by_type or len(by_type[key]) >= self.yield_after:
                by_type[key] = []
                groups.append(by_type[key])
            by_type[key].append(unit)
        return groups

    def _processed(self, rec: MessageRecord, *, wake: bool = True) -> Outcome:
        log.info("message processed", extra={"message_id": rec.id, "type": rec.type})
        if wake:
            self.wake_other_lanes(rec)
        return Outcome(rec.id, Status.PROCESSED, rec.lane_keys)

    def wake_other_lanes(self, rec: MessageRecord) -> None:
        # a unit of several lanes (an A40 merge, a claim item with its patient) unblocks them
        # all; wake their heads now rather than leave them for the sweeper (the drain that
        # called us follows the first key only)
        self._dispatch_lane_heads(rec.lane_keys[1:])

    def _dispatch_lane_heads(self, keys: Sequence[str]) -> None:
        """Dispatch the heads of ``keys``, read in one snapshot (a batch's units share it; a
        FHIR transaction holds a thousand lanes: one probe per 500 of them)."""
        if not keys:
            return
        with self.read_uow() as uow:
            heads = lanes.peek_lane_heads(uow.conn, now=self.clock.now(), keys=keys)
        for head in heads:
            self.dispatcher.dispatch(head)

    # --- several heads in one transaction (embedded workers) ----------------------------------

    def batch_limit(self, limit: int) -> int:
        """How many heads a worker should lease now: ``limit``, or no more than
        ``yield_after`` while an ingest waits for the SQLite writer (the lease transaction
        holds the writer too)."""
        if limit > self.yield_after and self.writer_wanted():
            return self.yield_after
        return limit

    def run_batch(self, worker: str, *, limit: int = 8) -> list[Outcome]:
        """Lease up to ``limit`` lane heads (one per lane) and apply them in one transaction,
        or in several when ingest is waiting for the SQLite writer (:meth:`_apply_chunk`).

        The lease still commits first (every attempt is on record before any work, as in
        :meth:`run_next`); then each message runs inside its own savepoint, so one that fails
        is rolled back alone and recorded after the commit, exactly as a single one would be.
        One commit, writer-lock turn and audit-head turn for the lot instead of one each: on
        SQLite the commit is the largest cost of a message (bench/hl7v2, ADR 0007).
        Units whose type registered a batch processor (X12 835 claim items) are applied
        together in one savepoint first, falling back to one savepoint each if that raises
        (ADR 0027).
        """
        leased = self._lease_batch(worker, limit)
        # documents split in their own short transactions, never inside a shared one
        docs = [c for c in leased if self.splitter_for(c[0]) is not None]
        if docs or len(leased) <= 1:
            units = [c for c in leased if c not in docs]
            return [self._process(rec, attempt, uow=self.redo_uow) for rec, attempt in docs + units]
        done: list[MessageRecord] = []
        lost: list[MessageRecord] = []
        failed: list[tuple[MessageRecord, int, BaseException]] = []
        ready: list[tuple[MessageRecord, int, Any]] = []
        for rec, attempt_id in leased:  # the pure steps first, outside the transaction
            try:
                ready.append((rec, attempt_id, self._prepare(rec)))
            except Exception as exc:  # recorded after the commit, as in _process
                failed.append((rec, attempt_id, exc))
        while ready:
            ready = self._apply_chunk(ready, done, lost, failed)
        outcomes = [self._processed(rec, wake=False) for rec in done]
        self._dispatch_lane_heads([key for rec in done for key in rec.lane_keys[1:]])
        outcomes += [self.lost(rec) for rec in lost]
        outcomes += [self.record_failure(rec, aid, exc) for rec, aid, exc in failed]
        return outcomes

    def _apply_chunk(
        self,
        ready: list[tuple[MessageRecord, int, Any]],
        done: list[MessageRecord],
        lost: list[MessageRecord],
        failed: list[tuple[MessageRecord, int, BaseException]],
    ) -> list[tuple[MessageRecord, int, Any]]:
        """Apply ``ready``'s units in one transaction, adding each to ``done``, ``lost`` or
        ``failed``; return the units left for another transaction.

        Once ``yield_after`` units are applied, the transaction ends early whenever a durable
        writer (an ingest about to ACK) is waiting for the SQLite writer: it commits, the ACK
        goes through (durable writers come first, hub.store.db.FairLock), and the rest follows
        in a new transaction, fenced again. An ACK then waits for at most ``yield_after``
        units of apply, however large the batch; a batch leased while nothing waits applies
        in one transaction (ADR 0007 addendum).
        """
        deferred = Deferred()  # attempt ends and audit events: one executemany each
        rest: list[tuple[MessageRecord, int, Any]] = []
        mine: list[tuple[MessageRecord, int, Any]] = []
        applied: list[MessageRecord] = []
        refused: list[tuple[MessageRecord, int, BaseException]] = []
        try:
            with self.redo_uow() as uow:
                items.lock_documents(uow.conn, [rec.document_id for rec, _, _ in ready])
                # every lease fenced in one statement (documents first: lock order)
                ours = lanes.still_ours_many(uow.conn, [(r.id, a) for r, a, _ in ready])
                lost.extend(rec for rec, _, _ in ready if rec.id not in ours)
                mine = [unit for unit in ready if unit[0].id in ours]
                groups = self._groups(mine)
                for n, group in enumerate(groups):
                    tried = len(applied) + len(refused)
                    if n and tried >= self.yield_after and self.writer_wanted():
                        rest = [unit for later in groups[n:] for unit in later]
                        break
                    if len(group) > 1 and self._apply_group(uow.conn, group, deferred):
                        applied.extend(rec for rec, _, _ in group)
                        continue
                    for rec, attempt_id, prepared in group:
                        mark = deferred.mark()
                        try:
                            with savepoint(uow.conn):
                                self._apply(
                                    uow.conn, rec, attempt_id, prepared, deferred, fenced=True
                                )
                        except Exception as exc:  # recorded after the commit, as in _process
                            deferred.drop_to(mark)
                            refused.append((rec, attempt_id, exc))
                        else:
                            applied.append(rec)
                deferred.flush(uow.conn)
                uow.commit()
        except Exception as exc:  # the shared transaction failed: nothing of it was applied
            log.warning("batch transaction failed", extra={"count": len(ready)})
            gone = StoreUnavailable("transaction failed") if not is_transient(exc) else exc
            known = {rec.id: err for rec, _, err in refused}
            failed.extend((rec, attempt_id, known.get(rec.id, gone)) for rec, attempt_id, _ in mine)
            return []
        done.extend(applied)
        failed.extend(refused)
        return rest

    def _lease_batch(self, worker: str, limit: int) -> list[tuple[MessageRecord, int]]:
        now = self.clock.now()
        ids: list[int] | None = None
        if self.peek_uow is not None:
            with self.peek_uow() as ro:  # SQLite: an idle worker never queues for the writer
                ids = lanes.peek_heads(ro.conn, now=now, limit=limit)
            if not ids:
                return []
        with self.redo_uow() as uow:
            if ids is None:
                ids = lanes.peek_heads(uow.conn, now=now, limit=limit)
            leased = lanes.lease_many(
                uow.conn, ids, now=now, lease_until=now + self.lease, worker=worker
            )
            # their receipt events before their outcomes' (docs/adr/0026)
            receipts.complete(uow.conn, [rec.id for rec, _ in leased])
            uow.commit()
        return leased

    def lost(self, rec: MessageRecord) -> Outcome:
        # Our lease expired and the sweeper handed the message back (another worker may hold it
        # now): apply nothing, record nothing; the new owner's attempt decides.
        log.warning("lease lost; not applied", extra={"message_id": rec.id})
        return Outcome(rec.id, Status.RECEIVED)

    def record_failure(self, rec: MessageRecord, attempt_id: int, exc: BaseException) -> Outcome:
        number = rec.attempt_count + 1
        decision = self.policy.decide(exc, number)
        code, text = safe_error_text(exc)
        now = self.clock.now()
        status = {
            Action.RETRY: Status.RETRYING,
            Action.FAIL: Status.FAILED,
            Action.DEAD: Status.DEAD,
        }[decision.action]
        next_at = (
            now + timedelta(seconds=decision.delay) if decision.action is Action.RETRY else None
        )
        with self.uow() as uow:
            items.lock_documents(uow.conn, [rec.document_id])
            if not lanes.still_ours(uow.conn, rec.id, attempt_id):
                return self.lost(rec)
            settle(
                uow.conn,
                rec,
                attempt_id,
                now=now,
                status=status,
                outcome=decision.action.value if decision.action is not Action.FAIL else "failed",
                next_at=next_at,
                message_error=(code, text),
                attempt_error=(code, text),
                detail={"type": rec.type, "attempt": number, "error_code": code},
            )
            uow.commit()
        log.warning(
            "message %s",
            status.value,
            extra={"message_id": rec.id, "error_code": code, "attempt": number},
        )
        if next_at is not None:
            self.dispatcher.dispatch(rec.id, countdown=decision.delay)
        else:
            self.wake_other_lanes(rec)  # failed/dead no longer block the lanes
        return Outcome(rec.id, status, rec.lane_keys)


def _open_attempt(conn: Connection, rec: MessageRecord, worker: str, now: datetime) -> int:
    """The attempt row a lease commits before any work (the sweeper closes it if we die)."""
    return store.start_attempt(
        conn,
        rec.id,
        stage="process",
        number=rec.attempt_count + 1,
        worker=worker,
        now=now,
        replay=rec.replay_requested,
    )


def _never() -> bool:
    return False
