"""The message lifecycle: one enum and an explicit transition table (DESIGN.md section 3).

::

    received ──► processing ──► processed
       │  ▲          │  │  └──► failed      (permanent error: unparseable, invalid, unmappable)
       │  │          │  └─────► retrying ──► processing   (transient error, backoff)
       │  │          └────────► dead        (retries exhausted)
       │  └── processing        (lease expired: the worker died; the sweeper hands it back)
       └──► held                (suspected duplicate: same sender + control id, new bytes)

    processed | failed | dead | held | resolved ──► received   (replay or release by an admin)
    processed | failed | dead | held ──► superseded   (an admin replayed an edited revision)
    failed | dead | held ──► resolved    (an admin closed it without replaying, with a reason)

``superseded`` is final: the edited revision (``revision_of`` points back) carries the work on.
``resolved`` can still be replayed if closing it was a mistake.

Deliveries have their own, smaller table: pending → sent | retrying → dead.
"""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Conflict


class Status(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    PROCESSED = "processed"
    RETRYING = "retrying"
    FAILED = "failed"
    DEAD = "dead"
    HELD = "held"
    SUPERSEDED = "superseded"
    RESOLVED = "resolved"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.PROCESSING, Status.HELD, Status.FAILED}),
    Status.PROCESSING: frozenset(
        {Status.PROCESSED, Status.FAILED, Status.RETRYING, Status.DEAD, Status.RECEIVED}
    ),
    Status.RETRYING: frozenset({Status.PROCESSING, Status.RECEIVED}),
    Status.PROCESSED: frozenset({Status.RECEIVED, Status.SUPERSEDED}),
    Status.FAILED: frozenset({Status.RECEIVED, Status.SUPERSEDED, Status.RESOLVED}),
    Status.DEAD: frozenset({Status.RECEIVED, Status.SUPERSEDED, Status.RESOLVED}),
    Status.HELD: frozenset({Status.RECEIVED, Status.FAILED, Status.SUPERSEDED, Status.RESOLVED}),
    Status.SUPERSEDED: frozenset(),
    Status.RESOLVED: frozenset({Status.RECEIVED}),
}

# A message in one of these states still owes its lane an outcome: later messages of the
# same lane wait behind it. failed / dead / held do not block the lane (they need a human).
PENDING: frozenset[Status] = frozenset({Status.RECEIVED, Status.PROCESSING, Status.RETRYING})
CLAIMABLE: frozenset[Status] = frozenset({Status.RECEIVED, Status.RETRYING})
# PENDING in the order the partial lane indexes' predicates spell it. SQLite uses a partial
# index only when the query repeats its predicate term; a frozenset's order changes with the
# interpreter's hash seed, which silently turned index probes into scans in some runs.
PENDING_VALUES: tuple[str, ...] = ("received", "processing", "retrying")
CLAIMABLE_VALUES: tuple[str, ...] = ("received", "retrying")
REPLAYABLE: frozenset[Status] = frozenset(
    {Status.PROCESSED, Status.FAILED, Status.DEAD, Status.HELD, Status.RESOLVED}
)
# What an edited revision replaces, and what an admin may close without replaying.
SUPERSEDABLE: frozenset[Status] = frozenset(
    s for s, to in TRANSITIONS.items() if Status.SUPERSEDED in to
)
RESOLVABLE: frozenset[Status] = frozenset(
    s for s, to in TRANSITIONS.items() if Status.RESOLVED in to
)


def check_transition(current: Status, new: Status) -> None:
    if new not in TRANSITIONS[current]:
        raise Conflict(f"illegal transition {current} -> {new}", code="illegal_transition")


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    DEAD = "dead"


DELIVERY_TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.PENDING: frozenset(
        {DeliveryStatus.SENT, DeliveryStatus.RETRYING, DeliveryStatus.FAILED, DeliveryStatus.DEAD}
    ),
    DeliveryStatus.RETRYING: frozenset(
        {DeliveryStatus.SENT, DeliveryStatus.RETRYING, DeliveryStatus.FAILED, DeliveryStatus.DEAD}
    ),
    DeliveryStatus.SENT: frozenset({DeliveryStatus.PENDING}),
    DeliveryStatus.FAILED: frozenset({DeliveryStatus.PENDING}),
    DeliveryStatus.DEAD: frozenset({DeliveryStatus.PENDING}),
}
