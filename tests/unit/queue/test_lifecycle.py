"""The lifecycle's transition table: every allowed move, and forbidden ones refused."""

from __future__ import annotations

import itertools

import pytest

from hub.errors import Conflict
from hub.queue.lifecycle import (
    CLAIMABLE,
    PENDING,
    REPLAYABLE,
    RESOLVABLE,
    SUPERSEDABLE,
    TRANSITIONS,
    Status,
    check_transition,
)

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
    # an edited revision replaces the original (issue 10, item 19)
    (S.PROCESSED, S.SUPERSEDED),
    (S.FAILED, S.SUPERSEDED),
    (S.DEAD, S.SUPERSEDED),
    (S.HELD, S.SUPERSEDED),
    # an admin closes it without replaying (item 22); a resolved message may still replay
    (S.FAILED, S.RESOLVED),
    (S.DEAD, S.RESOLVED),
    (S.HELD, S.RESOLVED),
    (S.RESOLVED, S.RECEIVED),
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
    assert (current, new) in FORBIDDEN


def test_state_sets() -> None:
    assert {S.RECEIVED, S.PROCESSING, S.RETRYING} == PENDING  # these block later lane members
    assert {S.RECEIVED, S.RETRYING} == CLAIMABLE
    assert {S.PROCESSED, S.FAILED, S.DEAD, S.HELD, S.RESOLVED} == REPLAYABLE
    assert {S.PROCESSED, S.FAILED, S.DEAD, S.HELD} == SUPERSEDABLE
    assert {S.FAILED, S.DEAD, S.HELD} == RESOLVABLE
    assert not TRANSITIONS[S.SUPERSEDED]  # final: its revision carries the work on
    assert not (REPLAYABLE & PENDING)
    assert all(S.RECEIVED in TRANSITIONS[s] for s in REPLAYABLE)  # replay = back to received
