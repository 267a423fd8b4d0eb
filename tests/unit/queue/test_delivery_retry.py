"""The delivery retry horizon: a table of (error, attempt, elapsed) -> action (pure)."""

from __future__ import annotations

import pytest

from hub.errors import DeliveryError, ValidationError
from hub.queue.delivery_retry import DEFAULT_HORIZON, HorizonPolicy
from hub.queue.retry import Action

POLICY = HorizonPolicy(horizon=3600, base_delay=1, max_delay=300, jitter=False)
DOWN = DeliveryError("refused", code="connect_failed")


@pytest.mark.parametrize(
    ("error", "attempt", "elapsed", "action", "delay"),
    [
        (DOWN, 1, 0, Action.RETRY, 1),
        (DOWN, 2, 1, Action.RETRY, 2),
        (DOWN, 9, 300, Action.RETRY, 256),
        (DOWN, 10, 600, Action.RETRY, 300),  # capped
        (DOWN, 500, 3000, Action.RETRY, 300),  # the cap holds however many attempts
        (DOWN, 40, 3300, Action.RETRY, 300),  # 3300 + 300 = 3600: still inside
        (DOWN, 41, 3301, Action.DEAD, 0),  # the next attempt would fall past the horizon
        (ValidationError("bad URL"), 1, 0, Action.FAIL, 0),  # permanent: never retried
    ],
)
def test_decide(
    error: Exception, attempt: int, elapsed: float, action: Action, delay: float
) -> None:
    decision = POLICY.decide(error, attempt, elapsed)
    assert decision.action is action
    assert decision.delay == delay


def test_default_outlasts_a_night_of_maintenance() -> None:
    policy = HorizonPolicy()
    assert policy.horizon == DEFAULT_HORIZON >= 8 * 3600
    assert policy.max_delay <= 600
    # an EHR down for two minutes (the old 8 attempts / 96 s dead-lettered it): still retried
    assert policy.decide(DOWN, 8, 120).action is Action.RETRY


def test_a_destination_horizon_overrides_the_default() -> None:
    assert POLICY.for_horizon(None) is POLICY
    short = POLICY.for_horizon(10)
    assert short.decide(DOWN, 1, 0).action is Action.RETRY
    assert short.decide(DOWN, 4, 9).action is Action.DEAD


def test_jitter_stays_between_half_and_the_ceiling() -> None:
    policy = HorizonPolicy(base_delay=1, max_delay=300)
    delays = [policy.backoff(12) for _ in range(200)]
    assert all(150 <= d <= 300 for d in delays)
