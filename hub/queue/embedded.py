"""In-process workers, used when no broker is configured (the embedded default)."""

from __future__ import annotations

import logging
import threading

from hub.queue.dispatch import WakeupDispatcher
from hub.queue.pipeline import Pipeline

log = logging.getLogger(__name__)


class EmbeddedWorkers:
    """``count`` threads that claim lane heads until told to stop.

    Idle workers sleep on the dispatcher's event, woken by each ingest; ``poll`` bounds the
    sleep so retries that fall due are picked up without a dispatch.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        wakeup: WakeupDispatcher,
        *,
        count: int = 4,
        poll: float = 0.5,
        follow: int = 20,
    ) -> None:
        self.pipeline = pipeline
        self.wakeup = wakeup
        self.count = count
        self.poll = poll
        self.follow = follow
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
        # Follow the lane just processed for up to ``follow`` messages: its next head is found
        # by an index probe on the lane, where "any lane head" is a scan over every queued row.
        lane: str | None = None
        followed = 0
        while not self._stop.is_set():
            try:
                outcome = self.pipeline.run_next(name, lane_key=lane)
                if outcome is None and lane is not None:
                    outcome = self.pipeline.run_next(name)
            except Exception:  # DB down: back off and try again, never die
                log.exception("worker %s could not claim", name)
                self._stop.wait(1.0)
                continue
            if outcome is None:
                lane, followed = None, 0
                self.wakeup.wait(self.poll)
            else:
                followed = followed + 1 if outcome.lane_key == lane else 0
                lane = outcome.lane_key if followed < self.follow else None
                # there may be more in other lanes: pass the baton to one more worker
                self.wakeup.wake()

    def run_until_idle(self, name: str = "inline", limit: int = 1_000_000) -> int:
        """Process in the calling thread until nothing is claimable (tests, CLI one-shots)."""
        done = 0
        while done < limit and self.pipeline.run_next(name) is not None:
            done += 1
        return done
