"""Typed entities of billing: claims, submissions, remittances, eligibility, claim status.

The same values serve as the input of a change (``id`` None: not stored yet) and as what a
repository reads back (``id`` set). Amounts are :class:`~decimal.Decimal`; vocabularies are the
neutral ones of :mod:`hub.pm.enums` (X12 codes are translated in the mappings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from hub.pm.enums import (
    AckResult,
    AdjustmentGroup,
    ClaimFrequency,
    ClaimPaymentStatus,
    ClaimStatus,
    EligibilityStatus,
)
from hub.pm.keys import PayerRef


@dataclass(frozen=True, slots=True)
class ClaimLine:
    line_number: int
    service_date: date
    code: str
    amount: Decimal
    units: Decimal = Decimal(1)
    modifiers: tuple[str, ...] = ()
    diagnosis_pointers: tuple[int, ...] = ()
    line_item_control_number: str = ""  # REF*6R: what 835 service lines match on
    charge_id: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    patient_control_number: str  # CLM01
    patient_id: int
    status: ClaimStatus
    total_charge: Decimal
    lines: tuple[ClaimLine, ...] = ()
    diagnosis_codes: tuple[str, ...] = ()
    encounter_id: int | None = None
    coverage_id: int | None = None
    payer_org_id: int | None = None
    billing_provider_id: int | None = None
    rendering_provider_id: int | None = None
    place_of_service: str | None = None
    frequency: ClaimFrequency = ClaimFrequency.ORIGINAL
    original_claim_number: str | None = None  # REF*F8, for a replacement or void
    payer_claim_number: str | None = None
    submitted_at: datetime | None = None
    id: int | None = None
    version: int = 1
    prior_authorization: str | None = None  # REF*G1


@dataclass(frozen=True, slots=True)
class Submission:
    """One transaction set sent to a trading partner, and the claims it carried."""

    partner: str
    interchange_control_number: str  # ISA13
    group_control_number: str  # GS06
    transaction_control_number: str  # ST02
    claim_numbers: tuple[str, ...] = ()  # patient control numbers
    ack_result: AckResult | None = None
    ack_reason: str | None = None
    submitted_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One CAS triplet: group, reason (CARC) and amount."""

    group: AdjustmentGroup
    reason_code: str
    amount: Decimal
    quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ServicePayment:
    code: str
    charge_amount: Decimal
    paid_amount: Decimal
    modifiers: tuple[str, ...] = ()
    units: Decimal | None = None
    service_date: date | None = None
    line_item_control_number: str | None = None  # REF*6R echoed back
    adjustments: tuple[Adjustment, ...] = ()
    remark_codes: tuple[str, ...] = ()  # RARC
    claim_line_id: int | None = None


@dataclass(frozen=True, slots=True)
class ClaimPayment:
    patient_control_number: str  # CLP01
    status: ClaimPaymentStatus  # CLP02
    charge_amount: Decimal
    paid_amount: Decimal
    patient_responsibility: Decimal | None = None
    payer_claim_number: str | None = None  # CLP07
    services: tuple[ServicePayment, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    remark_codes: tuple[str, ...] = ()
    claim_id: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    """A provider-level adjustment (X12 PLB): not tied to one claim."""

    provider_identifier: str
    fiscal_period_end: date | None
    reason_code: str
    amount: Decimal
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Remittance:
    """One payment (or advice) from one payer; unique per payer and trace number (TRN02)."""

    payer: PayerRef
    trace_number: str
    total_paid: Decimal
    payment_method: str | None = None  # BPR04 as sent (ACH, CHK, NON, ...)
    payment_date: date | None = None
    claims: tuple[ClaimPayment, ...] = ()
    provider_adjustments: tuple[ProviderAdjustment, ...] = ()
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Benefit:
    """One benefit line of an eligibility answer (X12 271 EB)."""

    code: str  # EB01 as neutral text: active, inactive, co-payment, deductible, ...
    service_type: str | None = None
    coverage_level: str | None = None
    in_network: bool | None = None
    amount: Decimal | None = None
    percent: Decimal | None = None
    period: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class EligibilityCheck:
    trace_number: str
    status: EligibilityStatus
    patient_id: int | None = None
    coverage_id: int | None = None
    requested_at: datetime | None = None
    responded_at: datetime | None = None
    benefits: tuple[Benefit, ...] = ()
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ClaimStatusEvent:
    """A status a payer or clearinghouse reported for one claim (999, 277CA, 277, 835)."""

    patient_control_number: str
    at: datetime
    source: str  # 999 | 277CA | 277 | 835 | user
    category_code: str | None = None
    status_code: str | None = None
    entity_code: str | None = None
    detail: str | None = None
    claim_id: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ClaimBalance:
    """What a claim's remittances add up to (every posting, reversals subtracting).

    ``written_off`` is every adjustment but patient responsibility (groups CO, OA, PI, CR);
    ``balance`` is what is still owed on the claim by anyone (charge - paid - written off), of
    which ``patient_responsibility`` (group PR) is the patient's share and ``payer_balance``
    the rest (still open with the payer: nothing posted yet, or pended)."""

    patient_control_number: str
    status: ClaimStatus
    charged: Decimal
    paid: Decimal
    written_off: Decimal
    patient_responsibility: Decimal
    postings: int  # claim payments (CLP loops) posted against the claim

    @property
    def balance(self) -> Decimal:
        return self.charged - self.paid - self.written_off

    @property
    def payer_balance(self) -> Decimal:
        return self.balance - self.patient_responsibility
