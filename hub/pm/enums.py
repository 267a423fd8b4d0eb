"""Protocol-neutral vocabularies of the PM model.

What is stored is always one of these values, never a protocol's code: the HL7 v2 tables, X12
code lists and FHIR value sets are translated at the edge, in :mod:`hub.mappings`.
"""

from __future__ import annotations

from enum import StrEnum


class AdministrativeGender(StrEnum):
    """The gender used for administration (FHIR AdministrativeGender's four values)."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class EncounterClass(StrEnum):
    """The setting of an encounter; ``unknown`` when the sender's code is not one of these."""

    INPATIENT = "inpatient"
    OUTPATIENT = "outpatient"
    EMERGENCY = "emergency"
    PREADMISSION = "preadmission"
    RECURRING = "recurring"
    OBSTETRICS = "obstetrics"
    COMMERCIAL = "commercial"
    NOT_APPLICABLE = "not-applicable"
    UNKNOWN = "unknown"


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


class ClaimFrequency(StrEnum):
    """Why a claim is sent (X12 CLM05-3 / UB-04 bill type frequency), as neutral words."""

    ORIGINAL = "original"  # 1
    REPLACEMENT = "replacement"  # 7: needs the original claim reference (REF*F8)
    VOID = "void"  # 8: needs the original claim reference


class AckResult(StrEnum):
    """A receiver's verdict on a submission (X12 999 AK9 / IK5, TA1)."""

    ACCEPTED = "accepted"
    ACCEPTED_WITH_ERRORS = "accepted_with_errors"
    REJECTED = "rejected"


class AdjustmentGroup(StrEnum):
    """Who carries an adjusted amount (X12 CAS01 claim adjustment group codes)."""

    CONTRACTUAL = "contractual"  # CO
    CORRECTION = "correction"  # CR (correction and reversal)
    OTHER = "other"  # OA
    PAYER_INITIATED = "payer_initiated"  # PI
    PATIENT_RESPONSIBILITY = "patient_responsibility"  # PR


class ClaimPaymentStatus(StrEnum):
    """How the payer processed one claim (X12 CLP02, neutral)."""

    PRIMARY = "processed_primary"  # 1
    SECONDARY = "processed_secondary"  # 2
    TERTIARY = "processed_tertiary"  # 3
    DENIED = "denied"  # 4
    PENDED = "pended"  # 5
    REVERSAL = "reversal"  # 22
    NOT_OURS = "not_our_claim"  # 23


class EligibilityStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    UNKNOWN = "unknown"


class ControlNumberKind(StrEnum):
    """The sequences kept per trading partner (X12 ISA13, GS06, ST02)."""

    INTERCHANGE = "interchange"
    GROUP = "group"
    TRANSACTION = "transaction"
