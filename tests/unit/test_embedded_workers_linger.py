"""An in-process worker lingers only when it has caught up: a batch smaller than it asked
for. Fakes stand in for the pipeline (its SQL is tested in test_pipeline_batch)."""

from __future__ import annotations

import threading
from typing import Any, cast

from support.waiting import wait_until

from hub.queue.dispatch import WakeupDispatcher
from hub.queue.embedded import EmbeddedWorkers
from hub.queue.pipeline import Pipeline


class _Pipeline:
    def __init__(self, limit: int, sizes: list[int]) -> None:
        self.limit, self.sizes = limit, sizes
        self.asked: list[int] = []
        self.lock = threading.Lock()

    def batch_limit(self, limit: int) -> int:
        return min(limit, self.limit)

    def run_batch(self, worker: str, *, limit: int) -> list[Any]:
        with self.lock:
            self.asked.append(limit)
            size = self.sizes.pop(0) if self.sizes else 0
        return [object()] * size


class _Stop(threading.Event):
    """The workers' stop event, recording how long each wait on it was asked to last."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return super().wait(timeout)


def _workers(pipeline: _Pipeline) -> tuple[EmbeddedWorkers, _Stop]:
    # a linger far longer than the test waits: a worker that lingers is seen at once
    workers = EmbeddedWorkers(
        cast(Pipeline, pipeline), WakeupDispatcher(), count=1, poll=0.01, batch=64, linger=60
    )
    workers._stop = stop = _Stop()
    return workers, stop


def test_a_full_turn_while_ingest_waits_is_not_a_reason_to_linger() -> None:
    pipeline = _Pipeline(limit=16, sizes=[16, 16, 3])
    workers, stop = _workers(pipeline)
    workers.start()
    try:
        wait_until(lambda: 60 in stop.waits, what="the linger after the short third lease")
        assert pipeline.asked == [16, 16, 16]
        assert stop.waits == [60]  # none after either full turn
    finally:
        workers.stop()


def test_a_batch_smaller_than_asked_for_lingers() -> None:
    pipeline = _Pipeline(limit=64, sizes=[5, 5])
    workers, stop = _workers(pipeline)
    workers.start()
    try:
        wait_until(lambda: 60 in stop.waits, what="the worker waiting out its linger")
        assert pipeline.asked == [64]  # caught up after its first lease: lingering
    finally:
        workers.stop()
