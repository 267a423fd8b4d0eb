"""In-process workers, used when no broker is configured (the embedded default)."""

from __future__ import annotations

import logging
import threading

from hub.queue.dispatch import WakeupDispatcher
from hub.queue.pipeline import Pipeline

log = logging.getLogger(__name__)


class EmbeddedWorkers:
    """``count`` threads that lease lane heads until told to stop.

    Each turn a worker leases up to ``batch`` heads (one per lane; fewer while ingest waits for
    the SQLite writer, :meth:`Pipeline.batch_limit`) and applies them in one transaction
    (:meth:`Pipeline.run_batch`). A worker that has caught up with ingest (a batch smaller
    than it asked for) waits ``linger`` seconds before its next lease, so the next batch
    gathers several messages: one transaction per message at the pace of ingest had cost more
    than the wait (bench/hl7v2: end to end ~450 -> ~600 msgs/s). Idle workers sleep on the
    dispatcher's event,
    woken by each ingest; ``poll`` bounds the sleep so retries that fall due are picked up
    without a dispatch.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        wakeup: WakeupDispatcher,
        *,
        count: int = 4,
        poll: float = 0.5,
        batch: int = 8,
        linger: float = 0.005,
    ) -> None:
        self.pipeline = pipeline
        self.wakeup = wakeup
        self.count = count
        self.poll = poll
        self.batch = batch
        self.linger = linger
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.count):
            t = threading.Thread(
                target=self._run, args=(f"embedded-{n}",), name=f"hub-worker-{n}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.wakeup.wake_all()
        for t in self._threads:
            t.join(timeout=10)

    def _run(self, name: str) -> None:
        while not self._stop.is_set():
            try:
                limit = self.pipeline.batch_limit(self.batch)
                outcomes = self.pipeline.run_batch(name, limit=limit)
            except Exception:  # DB down: back off and try again, never die
                log.exception("worker %s could not lease", name)
                self._stop.wait(1.0)
                continue
            if not outcomes:
                self.wakeup.wait(self.poll)
                continue
            # there may be more in other lanes: pass the baton to one more worker
            self.wakeup.wake()
            if len(outcomes) < limit and self.linger:
                # caught up with ingest: let a batch gather instead of paying a transaction
                # pair per message (processing latency, never the ACK's)
                self._stop.wait(self.linger)

    def run_until_idle(self, name: str = "inline", limit: int = 1_000_000) -> int:
        """Process in the calling thread until nothing is leasable (tests, CLI one-shots)."""
        done = 0
        while done < limit and self.pipeline.run_next(name) is not None:
            done += 1
        return done
