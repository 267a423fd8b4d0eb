"""Sign-in attempts per client: a sliding window of failures (a token guesser is slowed to a
handful of tries a minute; a typo costs nothing). In memory, per process, bounded."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_CLIENTS = 10_000


class SignInLimiter:
    def __init__(
        self,
        *,
        failures: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window = window
        self.clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 when it may try now."""
        with self._lock:
            recent = self._recent(client)
            if len(recent) < self.failures:
                return 0.0
            return max(0.0, recent[0] + self.window - self.clock())

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(self.clock())
            self._seen.move_to_end(client)
            while len(self._seen) > MAX_CLIENTS:
                self._seen.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._seen.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        recent = self._seen.setdefault(client, deque(maxlen=self.failures))
        cutoff = self.clock() - self.window
        while recent and recent[0] <= cutoff:
            recent.popleft()
        return recent
