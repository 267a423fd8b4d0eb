"""The suite's one way to wait for something: poll a condition up to a deadline.

The deadline only stops a hung test; no test asserts how long anything took. Use it for the
positive condition that must hold before a negative check ("the worker has passed the point"
before "nothing else happened"), never a fixed ``time.sleep``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    what: str = "",
    interval: float = 0.02,
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that value; after
    ``timeout`` seconds raise AssertionError naming ``what`` and the last value seen.

    Returning the value lets ``assert wait_until(...)`` and ``row = wait_until(...)`` read
    naturally; a timeout always raises, whatever the caller does with the result."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            name = what or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"gave up after {timeout:g} s waiting for {name}: {value!r}")
        time.sleep(interval)
