"""How stored work wakes a worker. The database is the source of truth; a dispatch is a hint.

Losing a dispatch (broker down, process killed) only delays a message: the sweeper finds every
claimable lane head and dispatches it again.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None: ...


class WakeupDispatcher:
    """Embedded mode: wake the in-process workers; they claim lane heads themselves."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None:
        if countdown <= 0:
            self.event.set()


class NullDispatcher:
    """No workers (CLI one-shots, tests that drive the pipeline by hand)."""

    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None:
        return None
