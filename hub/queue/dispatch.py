"""How stored work wakes a worker. The database is the source of truth; a dispatch is a hint.

Losing a dispatch (broker down, process killed) only delays a message: the sweeper finds every
leasable lane head and dispatches it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None: ...


class WakeupDispatcher:
    """Embedded mode: wake the in-process workers; they lease lane heads themselves.

    Each dispatch wakes *one* idle worker (a token on a condition), not all of them: waking
    every worker per ingested message made all of them run the "any lane head" query at once
    for one new message, which on PostgreSQL cost more than the processing itself.
    """

    _MAX_TOKENS = 1024

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tokens = 0

    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None:
        if countdown <= 0:
            self.wake()

    def wake(self, count: int = 1) -> None:
        with self._cond:
            self._tokens = min(self._tokens + count, self._MAX_TOKENS)
            self._cond.notify(count)

    def wake_all(self) -> None:
        with self._cond:
            self._tokens = self._MAX_TOKENS
            self._cond.notify_all()

    def wait(self, timeout: float) -> None:
        """Sleep until woken or ``timeout`` passes; consumes one wake-up."""
        with self._cond:
            if self._tokens == 0:
                self._cond.wait(timeout)
            if self._tokens > 0:
                self._tokens -= 1


class NullDispatcher:
    """No workers (CLI one-shots, tests that drive the pipeline by hand)."""

    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None:
        return None


class PipeDispatcher:
    """Wake workers in other processes (``hub serve``'s worker processes, ADR 0026): one byte
    down a pipe per dispatch, to each process in turn.

    The write never blocks the caller (an ingest about to ACK): a full pipe already holds more
    wake-ups than its reader needs, and a closed one belongs to a process the supervisor is
    replacing; either way the byte is dropped, and the workers' poll and the sweeper find the
    message anyway.
    """

    def __init__(self) -> None:
        self._fds: list[int | None] = []
        self._turn = 0

    def attach(self, slot: int, fd: int | None) -> None:
        """Worker process ``slot`` reads wake-ups from the pipe whose write end is ``fd``."""
        while len(self._fds) <= slot:
            self._fds.append(None)
        if fd is not None:
            os.set_blocking(fd, False)
        self._fds[slot] = fd

    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None:
        if countdown <= 0:
            self.wake()

    def wake(self) -> None:
        fds = self._fds
        if not fds:
            return
        self._turn = (self._turn + 1) % len(fds)
        fd = fds[self._turn]
        if fd is None:
            return
        # full (plenty of wake-ups pending) or its process is gone: see the docstring
        with contextlib.suppress(OSError):
            os.write(fd, b"w")
