"""Claim-by-claim 835 posting rules on every repository (in memory, SQLite, PostgreSQL):
a replayed item changes nothing, another document with the same payer and TRN02 is refused,
a reversal (CLP02 22) and its correction net out in the claim's balance, a payment the claim's
status may not follow is still recorded, and an unsent claim's payment is kept unmatched."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from support.pm_repos import Pms

from hub.errors import Conflict
from hub.pm.billing import Adjustment, ClaimPayment, ProviderAdjustment, Remittance
from hub.pm.billing_changes import (
    BuildClaim,
    MarkClaimsSubmitted,
    PostClaimPayment,
    PostProviderAdjustments,
    RecordAcknowledgment,
)
from hub.pm.changes import AddCharge, UpsertCoverage, UpsertEncounter, UpsertPatient
from hub.pm.enums import AckResult, AdjustmentGroup, ClaimPaymentStatus, ClaimStatus
from hub.pm.keys import Identifier, PatientKey, PayerRef
from hub.pm.repositories import PmRepository

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PAYER = PayerRef("PAYER77", "SYNTHETIC MUTUAL")
KEY = PatientKey("NORTH", "MRN9")
HEADER = Remittance(PAYER, "EFT9", Decimal("90.00"), "ACH", date(2026, 12, 1))
CO, PR = AdjustmentGroup.CONTRACTUAL, AdjustmentGroup.PATIENT_RESPONSIBILITY


def claim(pm: PmRepository) -> str:
    pm.apply(UpsertPatient(KEY, (Identifier("MRN9", "NORTH", "MR"),), {"family_name": "X"}))
    pm.apply(UpsertEncounter(KEY, "V9", {"status": "finished"}))
    pm.apply(UpsertCoverage(KEY, 1, PAYER, {"member_id": "M9", "active": 1}))
    pm.apply(
        AddCharge(
            KEY, "T9", "1", date(2026, 11, 20), "99213", Decimal(100), Decimal(1), visit_number="V9"
        )
    )
    pm.apply(BuildClaim(KEY))
    patient = pm.patients.get(KEY)
    assert patient is not None
    (found,) = pm.billing.claims_of(patient.id)
    pm.apply(MarkClaimsSubmitted("CLEARCO", "1", "1", "0001", (found.patient_control_number,)))
    return found.patient_control_number


def paid(pcn: str, status: ClaimPaymentStatus, amount: str, *adjs: Adjustment) -> ClaimPayment:
    charge = Decimal(100) if Decimal(amount) >= 0 else Decimal(-100)
    return ClaimPayment(pcn, status, charge, Decimal(amount), adjustments=adjs)


def test_a_replayed_item_changes_nothing_and_another_document_is_a_duplicate(pms: Pms) -> None:
    pm = pms.at(T0)
    pcn = claim(pm)
    payment = paid(pcn, ClaimPaymentStatus.PRIMARY, "90.00", Adjustment(CO, "45", Decimal(10)))
    first = pm.apply(PostClaimPayment(HEADER, payment, item=11, document="7"))
    assert pm.apply(PostClaimPayment(HEADER, payment, item=11, document="7")) == first
    balance = pm.billing.claim_balance(pcn)
    assert balance is not None and (balance.postings, balance.paid) == (1, Decimal(90))
    with pytest.raises(Conflict) as caught:
        pm.apply(PostClaimPayment(HEADER, payment, item=99, document="8"))
    assert caught.value.code == "duplicate_remittance"
    plb = Remittance(PAYER, "EFT9", Decimal(90), provider_adjustments=(
        ProviderAdjustment("1234567893", None, "WO", Decimal(5)),))  # fmt: skip
    pm.apply(PostProviderAdjustments(plb, document="7"))
    pm.apply(PostProviderAdjustments(plb, document="7"))  # replayed: still one
    posted = pm.remittances.remittance(PAYER, "EFT9")
    assert posted is not None and len(posted.provider_adjustments) == 1


def test_a_reversal_and_its_correction_net_out(pms: Pms) -> None:
    pm = pms.at(T0)
    pcn = claim(pm)
    pm.apply(PostClaimPayment(HEADER, paid(pcn, ClaimPaymentStatus.PRIMARY, "100.00"), 1, "7"))
    assert pm.billing.claim(pcn).status is ClaimStatus.PAID  # type: ignore[union-attr]
    later = Remittance(PAYER, "EFT10", Decimal("-20.00"))
    reversal = paid(pcn, ClaimPaymentStatus.REVERSAL, "-100.00")
    correction = paid(pcn, ClaimPaymentStatus.PRIMARY, "80.00", Adjustment(PR, "2", Decimal(20)))
    pm.apply(PostClaimPayment(later, reversal, 2, "8"))
    assert pm.billing.claim(pcn).status is ClaimStatus.PAID  # type: ignore[union-attr]
    pm.apply(PostClaimPayment(later, correction, 3, "8"))
    balance = pm.billing.claim_balance(pcn)
    assert balance is not None
    assert (balance.status, balance.postings, balance.paid) == (
        ClaimStatus.PARTIALLY_PAID,
        3,
        Decimal(80),
    )
    assert (balance.patient_responsibility, balance.balance, balance.payer_balance) == (
        Decimal(20),
        Decimal(20),
        0,
    )


def test_a_payment_the_status_may_not_follow_is_still_recorded(pms: Pms) -> None:
    pm = pms.at(T0)
    pcn = claim(pm)
    pm.apply(RecordAcknowledgment("CLEARCO", "1", "1", "0001", AckResult.REJECTED, "IK5 R"))
    pm.apply(PostClaimPayment(HEADER, paid(pcn, ClaimPaymentStatus.PRIMARY, "90.00"), 1, "7"))
    balance = pm.billing.claim_balance(pcn)
    assert balance is not None and (balance.status, balance.paid) == (
        ClaimStatus.REJECTED,
        Decimal(90),
    )


def test_a_payment_for_a_claim_never_sent_is_kept_unmatched(pms: Pms) -> None:
    pm = pms.at(T0)
    pm.apply(PostClaimPayment(HEADER, paid("NOTOURS", ClaimPaymentStatus.PRIMARY, "9"), 1, "7"))
    posted = pm.remittances.remittance(PAYER, "EFT9")
    assert posted is not None
    (cp,) = posted.claims
    assert (cp.patient_control_number, cp.claim_id) == ("NOTOURS", None)
    assert pm.billing.claim_balance("NOTOURS") is None


def test_many_claim_payments_in_one_call_post_as_one_by_one(pms: Pms) -> None:
    """``apply_all`` posts a run of claim payments together on SQL (ADR 0027): a reversal and
    its correction of the same claim in one call still apply in order, an item repeated in the
    call posts once, and the result is what posting them one by one gives."""
    pm = pms.at(T0)
    pcn = claim(pm)
    later = Remittance(PAYER, "EFT10", Decimal("80.00"))
    first = paid(pcn, ClaimPaymentStatus.PRIMARY, "100.00")
    reversal = paid(pcn, ClaimPaymentStatus.REVERSAL, "-100.00")
    correction = paid(pcn, ClaimPaymentStatus.PRIMARY, "80.00", Adjustment(PR, "2", Decimal(20)))
    pm.apply_all(
        [
            PostClaimPayment(later, first, 1, "8"),
            PostClaimPayment(later, reversal, 2, "8"),
            PostClaimPayment(later, correction, 3, "8"),
            PostClaimPayment(later, correction, 3, "8"),  # the same item again: posts once
            PostClaimPayment(later, paid("NOTOURS", ClaimPaymentStatus.PRIMARY, "9"), 4, "8"),
        ]
    )
    balance = pm.billing.claim_balance(pcn)
    assert balance is not None
    assert (balance.status, balance.postings, balance.paid, balance.patient_responsibility) == (
        ClaimStatus.PARTIALLY_PAID,
        3,
        Decimal(80),
        Decimal(20),
    )
    posted = pm.remittances.remittance(PAYER, "EFT10")
    assert posted is not None
    assert [(c.patient_control_number, c.paid_amount) for c in posted.claims] == [
        (pcn, Decimal(100)),
        (pcn, Decimal(-100)),
        (pcn, Decimal(80)),
        ("NOTOURS", Decimal(9)),
    ]
    assert [a.reason_code for a in posted.claims[2].adjustments] == ["2"]
    assert posted.claims[3].claim_id is None
