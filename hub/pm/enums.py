"""Status vocabularies of the PM model."""

from __future__ import annotations

from enum import StrEnum


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"
    FULFILLED = "fulfilled"
    DELETED = "deleted"


class EncounterStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class ChargeStatus(StrEnum):
    OPEN = "open"
    BILLED = "billed"
    VOID = "void"


class ClaimStatus(StrEnum):
    """draft → ready → submitted → accepted | rejected → paid | partially_paid | denied."""

    DRAFT = "draft"
    READY = "ready"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    DENIED = "denied"


CLAIM_TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    ClaimStatus.DRAFT: frozenset({ClaimStatus.READY}),
    ClaimStatus.READY: frozenset({ClaimStatus.SUBMITTED, ClaimStatus.DRAFT}),
    ClaimStatus.SUBMITTED: frozenset(
        {
            ClaimStatus.ACCEPTED,
            ClaimStatus.REJECTED,
            ClaimStatus.PAID,
            ClaimStatus.PARTIALLY_PAID,
            ClaimStatus.DENIED,
        }
    ),
    ClaimStatus.ACCEPTED: frozenset(
        {ClaimStatus.PAID, ClaimStatus.PARTIALLY_PAID, ClaimStatus.DENIED, ClaimStatus.REJECTED}
    ),
    ClaimStatus.REJECTED: frozenset({ClaimStatus.DRAFT, ClaimStatus.READY}),
    ClaimStatus.PAID: frozenset({ClaimStatus.PARTIALLY_PAID, ClaimStatus.DENIED}),
    ClaimStatus.PARTIALLY_PAID: frozenset({ClaimStatus.PAID, ClaimStatus.DENIED}),
    ClaimStatus.DENIED: frozenset(
        {ClaimStatus.READY, ClaimStatus.PAID, ClaimStatus.PARTIALLY_PAID}
    ),
}


class EligibilityStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    UNKNOWN = "unknown"
