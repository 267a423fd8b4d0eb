"""Billing changes: what the X12 mappings (and the billing services) ask a repository to do.

Claims are named by their patient control number (CLM01), submissions by their control numbers
(ISA13 / GS06 / ST02 within a trading partner), remittances by payer + trace number (TRN02).
Every claim status change goes through :data:`hub.pm.enums.CLAIM_TRANSITIONS`; an illegal one is
a :class:`hub.errors.Conflict` (code ``illegal_transition``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.pm.billing import (
    ClaimLine,
    ClaimPayment,
    ClaimStatusEvent,
    EligibilityCheck,
    Remittance,
)
from hub.pm.enums import AckResult, ClaimStatus
from hub.pm.keys import PatientKey, PayerRef, ProviderRef


@dataclass(frozen=True, slots=True)
class BuildClaim:
    """Bill an encounter's open charges: one claim per encounter and primary payer, one line per
    charge (the charges become ``billed``). Charges added later to the same encounter join its
    claim while that claim is still ``draft`` or ``ready``, else make a new claim. The claim is
    ``ready`` when the patient has an active primary coverage, else ``draft``. Nothing open:
    no claim. ``visit_number`` None means the patient's most recent encounter."""

    patient: PatientKey
    visit_number: str | None = None
    place_of_service: str | None = None


@dataclass(frozen=True, slots=True)
class MarkClaimsSubmitted:
    """The claims (by patient control number) left in one transaction set: each goes
    ``ready`` -> ``submitted`` and the submission links the control numbers to them."""

    partner: str
    interchange_control_number: str
    group_control_number: str
    transaction_control_number: str
    claim_numbers: tuple[str, ...]
    submitted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordAcknowledgment:
    """A receiver's answer to a submission (999 / TA1): accepted moves its claims to
    ``accepted``, rejected to ``rejected`` (with the reason kept on the submission)."""

    partner: str
    interchange_control_number: str
    group_control_number: str
    transaction_control_number: str
    result: AckResult
    reason: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PostRemittance:
    """Post an 835 payment: claim payments matched by patient control number, service lines by
    line item control number; claim statuses follow. Posting the same payer + trace number again
    is a no-op."""

    remittance: Remittance


@dataclass(frozen=True, slots=True)
class RecordEligibility:
    """An eligibility answer with its benefits; the coverage's eligibility status follows."""

    check: EligibilityCheck
    patient: PatientKey | None = None
    coverage_priority: int | None = None


@dataclass(frozen=True, slots=True)
class RecordClaimStatus:
    """A status reported for one claim (277CA, 277); ``new_status`` moves the claim."""

    event: ClaimStatusEvent
    new_status: ClaimStatus | None = None


@dataclass(frozen=True, slots=True)
class UpsertClaim:
    """A claim as a client wrote it (FHIR Claim), keyed by its patient control number. New:
    created with its lines (``draft`` asked, or no payer: ``draft``; else ``ready``). Known and
    still ``draft`` or ``ready``: its fields and lines are replaced. Known and submitted or
    later: a :class:`hub.errors.Conflict` (``claim_locked``), as it has left the practice.
    ``visit_number`` names the patient's encounter (None: no encounter);
    ``coverage_priority`` the patient's coverage it bills."""

    patient: PatientKey
    patient_control_number: str
    lines: tuple[ClaimLine, ...]
    diagnosis_codes: tuple[str, ...] = ()
    draft: bool = False
    visit_number: str | None = None
    coverage_priority: int | None = None
    payer: PayerRef | None = None
    rendering: ProviderRef | None = None
    place_of_service: str | None = None


@dataclass(frozen=True, slots=True)
class RequestEligibility:
    """A 270 left for the patient's coverage at ``coverage_priority``: an eligibility check
    with its trace number (TRN02) and no answer yet (status ``unknown``), which the 271 reader
    finds by that trace number. The coverage's own eligibility status is not touched."""

    trace_number: str
    patient: PatientKey
    coverage_priority: int
    requested_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PostClaimPayment:
    """One claim payment of an 835 (one work item of the document, ADR 0009).

    ``remittance`` is the 835's header (payer, TRN02, BPR amounts; its ``claims`` and
    ``provider_adjustments`` are ignored): the first item of a document creates the remittance,
    the others find it. ``item`` names the work item (the original item's message id, also for an
    edited revision): an item applied again (a replay) finds its claim payment and changes
    nothing. ``document`` names the 835 the item came
    from; a remittance of the same payer and TRN02 already posted from another document is a
    :class:`hub.errors.Conflict` (``duplicate_remittance``): the same payment never posts twice.
    The claim's status follows the payment when the transition table allows it (else it stays:
    the payment is still recorded); a claim the hub never sent is recorded unmatched."""

    remittance: Remittance
    payment: ClaimPayment
    item: int
    document: str


@dataclass(frozen=True, slots=True)
class ClaimPaymentPosted:
    """What posting one :class:`PostClaimPayment` did, for the processor's warnings:
    ``claim_status`` is the claim's status before it (None: a claim the hub never sent, recorded
    unmatched), ``kept`` the status the payment would have moved it to but the lifecycle table
    does not allow (the claim stayed), ``replayed`` that the item had posted before (nothing
    changed)."""

    payment_id: int
    claim_status: ClaimStatus | None
    kept: ClaimStatus | None
    replayed: bool


@dataclass(frozen=True, slots=True)
class PostProviderAdjustments:
    """The PLB adjustments of an 835 (``remittance.provider_adjustments``), once per document
    (same duplicate rule as :class:`PostClaimPayment`)."""

    remittance: Remittance
    document: str


BillingChange = (
    BuildClaim
    | MarkClaimsSubmitted
    | RecordAcknowledgment
    | PostRemittance
    | RecordEligibility
    | RecordClaimStatus
    | UpsertClaim
    | RequestEligibility
    | PostClaimPayment
    | PostProviderAdjustments
)
