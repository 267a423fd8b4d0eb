"""The message lifecycle (defined in :mod:`hub.store.lifecycle`, where it is persisted)."""

from hub.store.lifecycle import (
    CLAIMABLE,
    DELIVERY_TRANSITIONS,
    PENDING,
    REPLAYABLE,
    RESOLVABLE,
    SUPERSEDABLE,
    TRANSITIONS,
    DeliveryStatus,
    Status,
    check_transition,
)

__all__ = [
    "CLAIMABLE",
    "DELIVERY_TRANSITIONS",
    "PENDING",
    "REPLAYABLE",
    "RESOLVABLE",
    "SUPERSEDABLE",
    "TRANSITIONS",
    "DeliveryStatus",
    "Status",
    "check_transition",
]
