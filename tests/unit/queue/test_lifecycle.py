"""The lifecycle's transition table: check_transition follows the code's own TRANSITIONS for
every pair, and the table keeps the rules DESIGN.md section 3 states (no copy of the table
here: a test that restates it only checks that two lists agree)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.errors import Conflict
from hub.queue.lifecycle import (
    LEASABLE,
    PENDING,
    REPLAYABLE,
    RESOLVABLE,
    SUPERSEDABLE,
    TRANSITIONS,
    Status,
    check_transition,
)
from hub.store import messages as store
from hub.store.lifecycle import FAILED_VALUES, LEASABLE_VALUES, PENDING_VALUES

S = Status
PAIRS = sorted(itertools.product(Status, Status))


def allowed(current: Status, new: Status) -> bool:
    return new in TRANSITIONS[current]


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize(("current", "new"), PAIRS)
def test_check_transition_follows_the_table(current: Status, new: Status) -> None:
    if allowed(current, new):
        check_transition(current, new)
    else:
        with pytest.raises(Conflict) as info:
            check_transition(current, new)
        assert info.value.code == "illegal_transition"


def test_outcomes_come_only_from_processing_or_a_document_summary() -> None:
    """Nothing skips the pipeline: processed / retrying / dead are set by a worker holding the
    lease; a document's processed / failed by the summary of its items (split)."""
    for target in (S.PROCESSED, S.RETRYING, S.DEAD):
        sources = {s for s in Status if allowed(s, target)}
        assert sources <= {S.PROCESSING, S.SPLIT}, (target, sources)
    assert {s for s in Status if allowed(s, S.SPLIT)} == {S.PROCESSING, S.PROCESSED, S.FAILED}
    assert {s for s in Status if allowed(S.SPLIT, s)} == {S.PROCESSED, S.FAILED}


def test_only_a_leasable_unit_is_leased() -> None:
    assert {s for s in Status if allowed(s, S.PROCESSING)} == LEASABLE


def test_replay_returns_to_received_and_no_state_is_a_dead_end() -> None:
    assert all(allowed(s, S.RECEIVED) for s in REPLAYABLE)
    for status in Status:
        assert TRANSITIONS[status], f"{status} has no way out"
    assert not allowed(S.RECEIVED, S.RECEIVED)  # a replay of a queued message is refused


def test_superseded_and_resolved_leave_the_lists_but_not_the_record() -> None:
    """Issue 10, items 19 and 22: an edited revision supersedes what it replaces; an admin
    resolves without replaying what needs a human; both can still be replayed by id."""
    assert {S.PROCESSED, S.FAILED, S.DEAD, S.HELD} == SUPERSEDABLE
    assert {S.FAILED, S.DEAD, S.HELD} == RESOLVABLE
    assert TRANSITIONS[S.SUPERSEDED] == TRANSITIONS[S.RESOLVED] == {S.RECEIVED}
    assert not ({S.SUPERSEDED, S.RESOLVED} & PENDING)


def test_state_sets() -> None:
    assert {S.RECEIVED, S.PROCESSING, S.RETRYING} == PENDING  # these block later lane members
    assert {S.RECEIVED, S.RETRYING} == LEASABLE
    assert LEASABLE <= PENDING
    assert {S.PROCESSED, S.FAILED, S.DEAD, S.HELD, S.RESOLVED, S.SUPERSEDED} == REPLAYABLE
    assert not (REPLAYABLE & PENDING)
    assert S.SPLIT not in PENDING | REPLAYABLE  # a document's summary: its items carry the work
    # the ordered tuples the SQL is rendered from are the same sets
    assert set(PENDING_VALUES) == {s.value for s in PENDING}
    assert set(LEASABLE_VALUES) == {s.value for s in LEASABLE}
    assert set(FAILED_VALUES) == {S.FAILED.value, S.DEAD.value}


class _Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was touched ({name}) for a forbidden move")


@pytest.mark.parametrize(("current", "new"), [(S.PROCESSED, S.PROCESSING), (S.HELD, S.PROCESSED)])
def test_the_store_refuses_a_forbidden_move_before_writing(current: Status, new: Status) -> None:
    """The code that persists a status change goes through the table (not only this file)."""
    with pytest.raises(Conflict) as info:
        store.transition(_Untouchable(), 1, current, new, now=datetime(2026, 1, 5, tzinfo=UTC))  # type: ignore[arg-type]
    assert info.value.code == "illegal_transition"
