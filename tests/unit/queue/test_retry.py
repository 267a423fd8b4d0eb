"""The retry policy as a table of cases: permanent never retried, transient backs off with
bounded jitter, exhaustion dead-letters."""

from __future__ import annotations

import random
import sqlite3

import pytest

from hub.errors import (
    Conflict,
    DeliveryError,
    MappingError,
    ParseError,
    StoreUnavailable,
    TransientError,
    UnsupportedError,
    ValidationError,
)
from hub.queue.retry import Action, RetryPolicy, is_transient


class OperationalError(Exception):
    """Stands in for a driver error matched by class name (the queue does not import SQLAlchemy)."""


PERMANENT = [
    ParseError("x"),
    ValidationError("x"),
    UnsupportedError("x"),
    MappingError("x"),
    Conflict("x"),
    KeyError("x"),
    ValueError("x"),
    RuntimeError("x"),
]
TRANSIENT = [
    TransientError("x"),
    StoreUnavailable("x"),
    DeliveryError("x"),
    ConnectionError(),
    TimeoutError(),
    sqlite3.OperationalError("database is locked"),
    OperationalError(),
]


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("attempt", [1, 2, 7, 8, 50])
def test_permanent_errors_are_never_retried(error: Exception, attempt: int) -> None:
    assert not is_transient(error)
    assert RetryPolicy(max_attempts=8).decide(error, attempt).action is Action.FAIL


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_errors_retry_until_exhausted_then_dead(error: Exception) -> None:
    policy = RetryPolicy(max_attempts=4, rng=random.Random(1))
    assert is_transient(error)
    actions = [policy.decide(error, n).action for n in range(1, 7)]
    assert actions == [Action.RETRY] * 3 + [Action.DEAD] * 3


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 32.0), (7, 60.0), (12, 60.0), (2000, 60.0)],
)
def test_backoff_grows_exponentially_within_jitter_bounds(attempt: int, ceiling: float) -> None:
    exact = RetryPolicy(base_delay=1.0, max_delay=60.0, jitter=False)
    assert exact.backoff(attempt) == ceiling
    jittered = RetryPolicy(base_delay=1.0, max_delay=60.0, rng=random.Random(42))
    delays = [jittered.backoff(attempt) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 100  # jittered: retries of many messages do not align


def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    def run(seed: int) -> list[float]:
        policy = RetryPolicy(
            base_delay=0.5, max_delay=30.0, max_attempts=10, rng=random.Random(seed)
        )
        return [policy.decide(TransientError("x"), n).delay for n in range(1, 10)]

    assert run(7) == run(7) != run(8)
    medians = run(7)
    assert medians[-1] > medians[0]  # grows with the attempt number


def test_decision_delay_is_zero_unless_retrying() -> None:
    policy = RetryPolicy(max_attempts=2)
    assert policy.decide(ValidationError("x"), 1).delay == 0.0
    assert policy.decide(TransientError("x"), 2).delay == 0.0
    assert policy.decide(TransientError("x"), 1).delay > 0.0
