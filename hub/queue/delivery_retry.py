"""How long a delivery is retried: a horizon in time, not a count of attempts.

A receiver that restarts takes minutes; a night's maintenance takes hours. Counting attempts
(8 with exponential backoff: 96 s) dead-lettered appointments that Mirth would have queued.
So a delivery is retried with capped exponential backoff and jitter until the *next* attempt
would fall past its destination's horizon (default 12 h, ``HUB_DELIVERY_RETRY_HORIZON``, or
``hub destinations add --retry-horizon``), then dead-lettered. Permanent errors fail at once.

Pure: ``decide(error, attempt, elapsed)``, tested with a table of cases.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from hub.queue.retry import Action, Decision, is_transient

DEFAULT_HORIZON = 12 * 3600.0
DEFAULT_MAX_BACKOFF = 300.0


@dataclass(frozen=True, slots=True)
class HorizonPolicy:
    horizon: float = DEFAULT_HORIZON  # seconds from the delivery's retry_from
    base_delay: float = 1.0
    max_delay: float = DEFAULT_MAX_BACKOFF  # the backoff cap
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def for_horizon(self, horizon: float | None) -> HorizonPolicy:
        """This policy with a destination's own horizon (``None``: keep the default)."""
        return self if horizon is None else replace(self, horizon=horizon)

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1``; ``attempt`` counts from 1."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        if not self.jitter:
            return ceiling
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)  # equal jitter

    def decide(self, error: BaseException, attempt: int, elapsed: float) -> Decision:
        """``elapsed``: seconds since the horizon started (creation or the last manual retry)."""
        if not is_transient(error):
            return Decision(Action.FAIL)
        delay = self.backoff(attempt)
        if elapsed + delay > self.horizon:
            return Decision(Action.DEAD)
        return Decision(Action.RETRY, delay)
