"""The retry policy as a value object with a pure ``decide(error, attempt)``.

Permanent errors (:class:`hub.errors.InputError` and anything not known to be transient) fail at
once; transient ones back off exponentially with full jitter until ``max_attempts`` is used up,
then the message is dead-lettered.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum

from hub.errors import HubError


class Action(StrEnum):
    RETRY = "retry"
    FAIL = "fail"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay: float = 0.0


def is_transient(error: BaseException) -> bool:
    """Errors worth trying again: our TransientError, lost connections, a busy database."""
    if isinstance(error, HubError):
        return error.retryable
    if isinstance(error, (ConnectionError, TimeoutError, sqlite3.OperationalError)):
        return True
    # SQLAlchemy's OperationalError / InterfaceError wrap driver disconnects and lock timeouts;
    # checked by name so the queue layer does not import SQLAlchemy.
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"OperationalError", "InterfaceError", "DisconnectionError"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 300.0
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1``; ``attempt`` counts from 1."""
        # the exponent is capped: 2.0 ** 1024 overflows, and the cap is far past any max_delay
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        if not self.jitter:
            return ceiling
        # "equal jitter": at least half the ceiling, so retries never stampede at zero.
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def decide(self, error: BaseException, attempt: int) -> Decision:
        if not is_transient(error):
            return Decision(Action.FAIL)
        if attempt >= self.max_attempts:
            return Decision(Action.DEAD)
        return Decision(Action.RETRY, self.backoff(attempt))
