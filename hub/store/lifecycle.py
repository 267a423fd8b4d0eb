"""The message lifecycle: one enum and an explicit transition table (DESIGN.md section 3).

::

    received ──► processing ──► processed
       │  ▲          │  │  └──► failed      (permanent error: unparseable, invalid, unmappable)
       │  │          │  └─────► retrying ──► processing   (transient error, backoff)
       │  │          └────────► dead        (retries exhausted)
       │  └── processing        (lease expired: the worker died; the sweeper hands it back)
       └──► held                (suspected duplicate: same sender + control id, new bytes)

    processed | failed | dead | held | resolved | superseded ──► received   (replay or release)
    processed | failed | dead | held ──► superseded   (an admin replayed an edited revision)
    failed | dead | held ──► resolved    (an admin closed it without replaying, with a reason)

``superseded``: the edited revision (``revision_of`` points back) carries the work on; the
original leaves the failed and held lists, and is replayed only when asked for by id (if the
revision was the mistake). ``resolved`` can likewise still be replayed.

A *document* (a stored file of many items, ADR 0009) is leased and processed like a message,
but its processing is the split into items: ``processing ──► split``. Its status then summarises
its items (:func:`hub.store.items.summarise`): ``split`` while any item is pending, then
``failed`` if an item failed or died (and no edited revision of it was processed), else
``processed``; an item replayed puts its document back to ``split``::

    processing ──► split ──► processed | failed ──► split   (an item replayed or edited)

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
    SPLIT = "split"  # a document whose items carry the work (summary, never leased)
    SUPERSEDED = "superseded"
    RESOLVED = "resolved"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.PROCESSING, Status.HELD, Status.FAILED}),
    Status.PROCESSING: frozenset(
        {
            Status.PROCESSED,
            Status.FAILED,
            Status.RETRYING,
            Status.DEAD,
            Status.RECEIVED,
            Status.SPLIT,
        }
    ),
    Status.RETRYING: frozenset({Status.PROCESSING, Status.RECEIVED}),
    Status.PROCESSED: frozenset({Status.RECEIVED, Status.SPLIT, Status.SUPERSEDED}),
    Status.FAILED: frozenset({Status.RECEIVED, Status.SPLIT, Status.SUPERSEDED, Status.RESOLVED}),
    Status.DEAD: frozenset({Status.RECEIVED, Status.SUPERSEDED, Status.RESOLVED}),
    Status.HELD: frozenset({Status.RECEIVED, Status.FAILED, Status.SUPERSEDED, Status.RESOLVED}),
    Status.SPLIT: frozenset({Status.PROCESSED, Status.FAILED}),
    Status.SUPERSEDED: frozenset({Status.RECEIVED}),
    Status.RESOLVED: frozenset({Status.RECEIVED}),
}

# A unit of work in one of these states still owes its lanes an outcome: later work sharing a
# lane key waits behind it (its keys are rows of ``lane_keys`` exactly while it is pending).
# failed / dead / held do not block the lanes (they need a human); split neither (its items do).
PENDING: frozenset[Status] = frozenset({Status.RECEIVED, Status.PROCESSING, Status.RETRYING})
# What a worker may *lease* (take for a while, fenced by its attempt). "Lease" is the queue's
# verb for taking work; "claim" is reserved for billing claims (docs/glossary.md).
LEASABLE: frozenset[Status] = frozenset({Status.RECEIVED, Status.RETRYING})
# PENDING in the order partial indexes' predicates spell it. SQLite uses a partial index only
# when the query repeats its predicate term; a frozenset's order changes with the
# interpreter's hash seed, which silently turned index probes into scans in some runs.
PENDING_VALUES: tuple[str, ...] = ("received", "processing", "retrying")
LEASABLE_VALUES: tuple[str, ...] = ("received", "retrying")
FAILED_VALUES: tuple[str, ...] = ("failed", "dead")
REPLAYABLE: frozenset[Status] = frozenset(
    {Status.PROCESSED, Status.FAILED, Status.DEAD, Status.HELD, Status.RESOLVED, Status.SUPERSEDED}
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
