"""The sealer: numbers and hashes committed audit rows, and writes signed checkpoints.

``hub serve`` runs one as a background thread (every ``HUB_AUDIT_SEAL_INTERVAL`` seconds; a
checkpoint when the sealed tip moved and ``HUB_AUDIT_CHECKPOINT_INTERVAL`` passed, and one at
shutdown); ``hub audit verify`` seals before it checks. Any number may run at once: sealing takes
a database lock (hub.store.audit_chain), so they take turns.

Before each round it completes receipts still pending (hub.store.receipts: a stored message's
``message.received`` event follows its ACK, docs/adr/0026), and at start it repairs those a crash
left pending.

A damaged chain (head deleted or moved) stops sealing, loudly, until someone looks: the rows keep
being appended unsealed, so receipts never stop, and ``hub audit verify`` names the damage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC

from sqlalchemy.engine import Connection

from hub.clock import Clock
from hub.errors import AuditChainBroken
from hub.store import audit_chain, receipts
from hub.store.audit_checkpoints import (
    AuditKey,
    Checkpoint,
    CheckpointFile,
    insert_checkpoint,
    last_db_checkpoint_seq,
)
from hub.store.db import UnitOfWorkFactory

log = logging.getLogger(__name__)


class AuditSealer:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        key: AuditKey | Callable[[], AuditKey],
        checkpoint_file: CheckpointFile,
        interval: float = 1.0,
        checkpoint_interval: float = 60.0,
        batch: int = 2000,
        receipt_batch: int = 200,
        step: int = 32,
        round_uow: UnitOfWorkFactory | None = None,
        writer_wanted: Callable[[], bool] | None = None,
    ) -> None:
        """``round_uow`` (``uow`` if not given): the transactions that complete receipts and
        seal rows, a ``background=True`` unit of work on SQLite so that a waiting ingest goes
        first. Each does up to ``batch`` (``receipt_batch``) rows, ``step`` at a time, and
        commits early once ``writer_wanted`` says an ingest waits: an ACK then waits for one
        step, not for a whole batch (docs/adr/0007). Checkpoints always use ``uow``."""
        self.uow = uow
        self.round_uow = round_uow or uow
        self.writer_wanted = writer_wanted
        self.step = step
        self.clock = clock
        # A loader is called on first use: a CLI command that never signs or verifies creates
        # no key file (and logs nothing about one).
        self._key = key
        self.file = checkpoint_file
        self.interval = interval
        self.checkpoint_interval = checkpoint_interval
        self.batch = batch
        self.receipt_batch = receipt_batch
        self.broken: str | None = None  # why sealing stopped, for /ready and the log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_checkpoint = time.monotonic()

    @property
    def key(self) -> AuditKey:
        if not isinstance(self._key, AuditKey):
            self._key = self._key()
        return self._key

    def complete_receipts(self) -> int:
        """Write the audit events (and patient references) of receipts still pending
        (hub.store.receipts), in short transactions: ingest waits for none of them long."""
        total = 0
        while True:
            n, more = self._round(
                lambda conn, k: receipts.complete(conn, limit=k), self.receipt_batch
            )
            total += n
            if not more:
                return total

    def seal_pending(self) -> int:
        """Complete pending receipts, then seal everything committed so far; returns the rows
        sealed. Raises AuditChainBroken."""
        self.complete_receipts()
        total = 0
        while True:
            n, more = self._round(lambda conn, k: audit_chain.seal(conn, limit=k), self.batch)
            total += n
            if not more:
                self.broken = None
                return total

    def _round(self, step: Callable[[Connection, int], int], cap: int) -> tuple[int, bool]:
        """One transaction of ``step(conn, k)`` calls, ``self.step`` rows each, until a call
        finds fewer (caught up), ``cap`` rows are done, or an ingest waits; returns the rows
        done and whether more may be waiting."""
        done = 0
        with self.round_uow() as uow:
            while done < cap:
                want = min(self.step, cap - done)
                n = step(uow.conn, want)
                done += n
                if n < want:
                    uow.commit()
                    return done, False
                if self.writer_wanted is not None and self.writer_wanted():
                    break
            uow.commit()
        return done, True

    def checkpoint(self) -> Checkpoint | None:
        """Sign the sealed tip if it moved since the last checkpoint: file first (fsync'd),
        then the database. The tip is committed before it is signed, so a checkpoint never
        names rows a rollback could take back."""
        with self.uow() as uow:
            tip = audit_chain.sealed_tip(uow.conn)
            if tip is None or tip[0] == 0 or tip[0] <= last_db_checkpoint_seq(uow.conn):
                return None
            cp = self.key.sign(tip[0], tip[1], self.clock.now().astimezone(UTC))
            self.file.append(cp)
            insert_checkpoint(uow.conn, cp)
            uow.commit()
        self._last_checkpoint = time.monotonic()
        log.info("audit checkpoint", extra={"seq": cp.seq, "key_id": cp.key_id})
        return cp

    def run_once(self) -> None:
        try:
            self.seal_pending()
        except AuditChainBroken as exc:
            if self.broken != exc.message:
                log.error("audit sealing stopped", extra={"reason": exc.message})
            self.broken = exc.message
            return
        if time.monotonic() - self._last_checkpoint >= self.checkpoint_interval:
            self.checkpoint()

    def start(self) -> None:
        _ = self.key  # load or generate it now: a serving hub says so at start
        try:
            # Start-up repair: receipts a stop or a crash left between their ACK and their
            # audit event (docs/adr/0026) are completed before anything else runs.
            repaired = self.complete_receipts()
        except Exception:  # database down at start: the sealing thread completes them later
            log.exception("audit: receipts not completed at start")
        else:
            if repaired:
                log.info("audit: receipts completed at start", extra={"count": repaired})
        self._thread = threading.Thread(target=self._run, name="hub-audit-sealer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then seal what is left and sign a last checkpoint."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self._thread = None
        try:
            self.seal_pending()
            self.checkpoint()
        except Exception:  # shutting down with the database gone: the next start seals
            log.exception("audit: final seal and checkpoint failed")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # database restarting: tried again next interval
                log.exception("audit sealing failed")
