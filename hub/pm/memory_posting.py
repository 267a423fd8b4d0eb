"""Claim-by-claim 835 posting in the in-memory repository (:mod:`hub.pm.memory`): the same
rules as :mod:`hub.store.pm_repo.remittance` (a replayed item changes nothing, another document
with the same payer and TRN02 is a duplicate, the status follows only when allowed), and the
claim balance read back from the postings."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from hub.errors import Conflict
from hub.pm import billing_changes as bc
from hub.pm.billing import ClaimBalance, ClaimPayment, Remittance
from hub.pm.enums import AdjustmentGroup, ClaimStatus
from hub.pm.rules import check_transition, may_move, status_after_payment

if TYPE_CHECKING:
    from hub.pm.memory import MemoryPm, Row


def _set_status(pm: MemoryPm, claim: Row, target: ClaimStatus) -> None:
    check_transition(claim["status"], target)
    pm.write("claims", claim, {"status": target.value})


def claim_payment(pm: MemoryPm, rem_id: int, cp: ClaimPayment, item: int | None) -> int:
    claim = pm.first("claims", patient_control_number=cp.patient_control_number)
    row = {
        "remittance_id": rem_id,
        "source_item": item,
        "patient_control_number": cp.patient_control_number,
        "claim_id": None if claim is None else claim["id"],
        "payment": cp,
    }
    cp_id = pm.write("claim_payments", None, row)
    if claim is None:
        return cp_id
    target = status_after_payment(cp.status, cp.charge_amount, cp.paid_amount)
    if target is not None and (item is None or may_move(claim["status"], target)):
        _set_status(pm, claim, target)
    if cp.payer_claim_number and cp.payer_claim_number != claim.get("payer_claim_number"):
        pm.write("claims", claim, {"payer_claim_number": cp.payer_claim_number})
    return cp_id


def _document_remittance(pm: MemoryPm, rem: Remittance, document: str) -> Row:
    payer = pm.resolve_payer(rem.payer)
    found = pm.first("remittances", payer_org_id=payer, trace_number=rem.trace_number)
    if found is not None:
        if found.get("source_document") != document:
            raise Conflict(
                "this payment (payer and TRN02) was already posted from another file",
                code="duplicate_remittance",
            )
        return found
    header = Remittance(
        rem.payer, rem.trace_number, rem.total_paid, rem.payment_method, rem.payment_date
    )
    values = {
        "payer_org_id": payer,
        "trace_number": rem.trace_number,
        "remittance": header,
        "source_document": document,
    }
    return pm.tables["remittances"][pm.write("remittances", None, values)]


def post_claim_payment(pm: MemoryPm, ch: bc.PostClaimPayment) -> int:
    rem = _document_remittance(pm, ch.remittance, ch.document)
    done = pm.first("claim_payments", remittance_id=rem["id"], source_item=ch.item)
    if done is not None:
        return int(done["id"])
    stored: Remittance = rem["remittance"]
    pm.write("remittances", rem, {"remittance": _with_claim(stored, ch.payment)})
    return claim_payment(pm, rem["id"], ch.payment, ch.item)


def _with_claim(rem: Remittance, cp: ClaimPayment) -> Remittance:
    return Remittance(
        rem.payer,
        rem.trace_number,
        rem.total_paid,
        rem.payment_method,
        rem.payment_date,
        (*rem.claims, cp),
        rem.provider_adjustments,
    )


def post_provider_adjustments(pm: MemoryPm, ch: bc.PostProviderAdjustments) -> int:
    rem = _document_remittance(pm, ch.remittance, ch.document)
    stored: Remittance = rem["remittance"]
    if not stored.provider_adjustments:
        update = Remittance(
            stored.payer,
            stored.trace_number,
            stored.total_paid,
            stored.payment_method,
            stored.payment_date,
            stored.claims,
            ch.remittance.provider_adjustments,
        )
        pm.write("remittances", rem, {"remittance": update})
    return int(rem["id"])


def claim_balance(pm: MemoryPm, pcn: str) -> ClaimBalance | None:
    row = pm.first("claims", patient_control_number=pcn)
    if row is None:
        return None
    paid = written_off = patient = Decimal(0)
    postings = pm.rows("claim_payments", claim_id=row["id"])
    for posted in postings:
        cp: ClaimPayment = posted["payment"]
        paid += cp.paid_amount
        for adj in (*cp.adjustments, *(a for s in cp.services for a in s.adjustments)):
            if adj.group is AdjustmentGroup.PATIENT_RESPONSIBILITY:
                patient += adj.amount
            else:
                written_off += adj.amount
    return ClaimBalance(
        pcn,
        ClaimStatus(row["status"]),
        Decimal(str(row["total_charge"])),
        paid,
        written_off,
        patient,
        len(postings),
    )
