"""The message lifecycle (defined in :mod:`hub.store.lifecycle`, where it is persisted)."""

from hub.store.lifecycle import (
    DELIVERY_TRANSITIONS,
    LEASABLE,
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
    "DELIVERY_TRANSITIONS",
    "LEASABLE",
    "PENDING",
    "REPLAYABLE",
    "RESOLVABLE",
    "SUPERSEDABLE",
    "TRANSITIONS",
    "DeliveryStatus",
    "Status",
    "check_transition",
]
