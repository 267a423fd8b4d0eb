"""Read-only views of PM facts that are parts of an aggregate rather than entities of their
own, shaped for reading back: one claim's payment in a remittance (835), one status result
about a claim (999 / 277CA), a coverage with its latest eligibility answer (271)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from hub.pm.billing import Claim, ClaimPayment, ClaimStatusEvent, EligibilityCheck
from hub.pm.entities import Coverage, Versioned


@dataclass(frozen=True, slots=True)
class ClaimPaymentView:
    meta: Versioned
    payment: ClaimPayment
    patient_id: int | None
    payer_org_id: int | None
    trace_number: str | None
    payment_date: date | None
    payment_method: str | None


@dataclass(frozen=True, slots=True)
class ClaimStatusView:
    meta: Versioned
    event: ClaimStatusEvent
    patient_id: int | None
    payer_org_id: int | None


@dataclass(frozen=True, slots=True)
class CoverageView:
    coverage: Coverage
    eligibility: EligibilityCheck | None = None

    @property
    def meta(self) -> Versioned:
        return self.coverage.meta


@dataclass(frozen=True, slots=True)
class ClaimView:
    """A claim with its row bookkeeping (the billing entity keeps only id and version)."""

    meta: Versioned
    claim: Claim
    created_at: datetime | None = None
