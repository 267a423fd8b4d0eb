"""The lifecycle's transition table: every allowed move, and forbidden ones refused."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.errors import Conflict
from hub.queue.lifecycle import (
    CLAIMABLE,
    PENDING,
    REPLAYABLE,
    TRANSITIONS,
    Status,
    check_transition,
)
from hub.store import messages as store

S = Status
ALLOWED = {
    (S.RECEIVED, S.PROCESSING),
    (S.RECEIVED, S.HELD),
    (S.RECEIVED, S.FAILED),
    (S.PROCESSING, S.PROCESSED),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.RETRYING),
    (S.PROCESSING, S.DEAD),
    (S.PROCESSING, S.RECEIVED),
    (S.RETRYING, S.PROCESSING),
    (S.RETRYING, S.RECEIVED),
    (S.PROCESSED, S.RECEIVED),
    (S.FAILED, S.RECEIVED),
    (S.DEAD, S.RECEIVED),
    (S.HELD, S.RECEIVED),
    (S.HELD, S.FAILED),
}


def test_table_is_exactly_the_documented_one() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize(("current", "new"), sorted(ALLOWED))
def test_allowed(current: Status, new: Status) -> None:
    check_transition(current, new)


FORBIDDEN = sorted(set(itertools.product(Status, Status)) - ALLOWED)


@pytest.mark.parametrize(("current", "new"), FORBIDDEN)
def test_forbidden(current: Status, new: Status) -> None:
    with pytest.raises(Conflict) as info:
        check_transition(current, new)
    assert info.value.code == "illegal_transition"


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PROCESSED, S.PROCESSING),
        (S.DEAD, S.PROCESSED),
        (S.FAILED, S.RETRYING),
        (S.RECEIVED, S.PROCESSED),
        (S.HELD, S.PROCESSING),
        (S.RETRYING, S.PROCESSED),
    ],
)
def test_sample_of_forbidden_moves_that_would_skip_the_pipeline(
    current: Status, new: Status
) -> None:
    # asked of the code, not of this file's table
    assert new not in TRANSITIONS[current]
    with pytest.raises(Conflict) as info:
        check_transition(current, new)
    assert info.value.code == "illegal_transition"


def test_state_sets() -> None:
    assert {S.RECEIVED, S.PROCESSING, S.RETRYING} == PENDING  # these block later lane members
    assert {S.RECEIVED, S.RETRYING} == CLAIMABLE
    assert {S.PROCESSED, S.FAILED, S.DEAD, S.HELD} == REPLAYABLE
    assert not (REPLAYABLE & PENDING)
    assert all(S.RECEIVED in TRANSITIONS[s] for s in REPLAYABLE)  # replay = back to received


class _Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was touched ({name}) for a forbidden move")


@pytest.mark.parametrize(("current", "new"), [(S.PROCESSED, S.PROCESSING), (S.HELD, S.PROCESSED)])
def test_the_store_refuses_a_forbidden_move_before_writing(current: Status, new: Status) -> None:
    """The code that persists a status change goes through the table (not only this file)."""
    with pytest.raises(Conflict) as info:
        store.transition(_Untouchable(), 1, current, new, now=datetime(2026, 1, 5, tzinfo=UTC))  # type: ignore[arg-type]
    assert info.value.code == "illegal_transition"
