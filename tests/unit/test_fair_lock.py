"""The SQLite writer lock: mutual exclusion, reentrancy, first come first served."""

from __future__ import annotations

import threading

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
