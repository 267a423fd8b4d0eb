"""The SQLite writer lock: mutual exclusion, reentrancy, first come first served."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
from support.waiting import wait_until

from hub.store.db import FairLock


def test_mutual_exclusion_and_reentrancy() -> None:
    lock = FairLock()
    inside = 0
    worst = 0
    total = 0

    def work() -> None:
        nonlocal inside, worst, total
        for _ in range(500):
            lock.acquire()
            lock.acquire()  # reentrant: the unit of work may nest in one thread
            inside += 1
            worst = max(worst, inside)
            total += 1
            inside -= 1
            lock.release()
            lock.release()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert (worst, total) == (1, 3000)


def test_waiters_are_served_in_arrival_order() -> None:
    lock = FairLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for n in range(5):
        t = threading.Thread(target=lambda n=n: (lock.acquire(), order.append(n), lock.release()))
        t.start()
        threads.append(t)
        # thread n queues before thread n+1 starts
        wait_until(lambda n=n: len(lock._waiters) == n + 1, what=f"thread {n} to queue")
    # the holder takes it straight back: it must queue behind the five waiters
    lock.release()
    lock.acquire()
    order.append(99)
    lock.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3, 4, 99]


def test_release_by_a_thread_that_does_not_hold_it_is_refused() -> None:
    lock = FairLock()
    lock.acquire()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            lock.release()
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join(5)
    lock.release()
    assert len(errors) == 1
    with pytest.raises(RuntimeError):
        lock.release()


def test_the_probe_sees_a_durable_writer_waiting_or_holding(tmp_path: Path) -> None:
    lock = FairLock(tmp_path / "db-writer")
    assert not lock.durable_waiting()
    lock.acquire(durable=False)  # a worker's apply holds the writer
    assert not lock.durable_waiting()  # a redoable holder is not a durable writer
    acked, leave = threading.Event(), threading.Event()

    def ingest() -> None:
        lock.acquire()  # durable (the default): an ingest about to ACK
        acked.set()
        leave.wait(10)
        lock.release()

    t = threading.Thread(target=ingest)
    t.start()
    wait_until(lock.durable_waiting, what="the waiting ingest seen by the probe")
    assert not acked.is_set()
    lock.release()  # the worker commits: the ingest gets the writer
    assert acked.wait(5)
    assert lock.durable_waiting()  # holding it counts too
    leave.set()
    t.join(5)
    assert not lock.durable_waiting()


def test_the_probe_sees_a_durable_writer_of_another_process(tmp_path: Path) -> None:
    path = tmp_path / "db-writer"
    ctx = multiprocessing.get_context("fork")
    holding, done = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_durably, args=(path, holding, done))
    child.start()
    try:
        assert holding.wait(10)
        assert FairLock(path).durable_waiting()
    finally:
        done.set()
        child.join(10)
    assert not FairLock(path).durable_waiting()


def _hold_durably(path: Path, holding: Any, done: Any) -> None:
    lock = FairLock(path)
    lock.acquire()
    holding.set()
    done.wait(10)
    lock.release()


def test_without_a_file_there_is_no_priority_to_probe() -> None:
    lock = FairLock()
    lock.acquire()
    assert not lock.durable_waiting()
    lock.release()
