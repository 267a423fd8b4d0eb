"""Billing handlers and readers of the in-memory repository (:mod:`hub.pm.memory`): the same
rules as :mod:`hub.store.pm_repo.billing` and :mod:`hub.store.pm_repo.remittance`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hub.errors import NotFound
from hub.pm import billing_changes as bc
from hub.pm import convert
from hub.pm import memory_posting as mp
from hub.pm.billing import (
    Benefit,
    Claim,
    ClaimPayment,
    ClaimStatusEvent,
    EligibilityCheck,
    Remittance,
    ServicePayment,
    Submission,
)
from hub.pm.changes import AddCharge
from hub.pm.enums import (
    AckResult,
    ChargeStatus,
    ClaimFrequency,
    ClaimStatus,
    EligibilityStatus,
)
from hub.pm.keys import PayerRef
from hub.pm.rules import (
    OPEN_CLAIM,
    check_transition,
    claim_line,
    claim_number,
)

if TYPE_CHECKING:
    from hub.pm.memory import MemoryPm, Row


def _add_charge(pm: MemoryPm, ch: AddCharge) -> int:
    pid = pm.require_patient(ch.patient)
    key = ch.transaction_id or f"~{pm.stamp.message_id}.{ch.set_id}"
    row = pm.first("charges", patient_id=pid, transaction_id=key)
    if row is not None and row["status"] != ChargeStatus.OPEN.value:
        return int(row["id"])
    encounter = pm.encounter_row(pid, ch.visit_number) if ch.visit_number else None
    values: dict[str, Any] = {
        "patient_id": pid,
        "encounter_id": None if encounter is None else encounter["id"],
        "transaction_id": key,
        "service_date": ch.service_date,
        "code": ch.code,
        "modifiers": list(ch.modifiers),
        "units": ch.units,
        "amount": ch.amount,
        "diagnosis_codes": list(ch.diagnosis_codes),
        "provider_id": pm.resolve_provider(ch.provider),
        "status": ChargeStatus.OPEN.value,
        "claim_id": None,
    }
    return pm.write("charges", row, values)


def _set_status(pm: MemoryPm, claim: Row, target: ClaimStatus) -> None:
    check_transition(claim["status"], target)
    pm.write("claims", claim, {"status": target.value})


def _claim_row(pm: MemoryPm, pcn: str) -> Row:
    row = pm.first("claims", patient_control_number=pcn)
    if row is None:
        raise NotFound("claim not known", code="unknown_claim")
    return row


def _build_claim(pm: MemoryPm, ch: bc.BuildClaim) -> int | None:
    pid = pm.require_patient(ch.patient)
    encounter = pm.encounter_row(pid, ch.visit_number)
    if encounter is None:
        raise NotFound("encounter not known", code="unknown_key")
    charges = pm.rows("charges", encounter_id=encounter["id"], status=ChargeStatus.OPEN.value)
    charges.sort(key=lambda r: (r["service_date"], r["id"]))
    if not charges:
        return None
    covs = pm.rows("coverages", patient_id=pid, active=1)
    cov = min(covs, key=lambda r: (r["priority"], r["id"])) if covs else None
    payer = None if cov is None else cov.get("payer_org_id")
    open_states = {s.value for s in OPEN_CLAIM}
    same = pm.rows("claims", encounter_id=encounter["id"])
    claim = next(
        (r for r in same if r["payer_org_id"] == payer and r["status"] in open_states), None
    )
    if claim is None:
        values = {
            "patient_control_number": claim_number(encounter["id"], payer, len(same) + 1),
            "patient_id": pid,
            "encounter_id": encounter["id"],
            "coverage_id": None if cov is None else cov["id"],
            "payer_org_id": payer,
            "rendering_provider_id": charges[0]["provider_id"],
            "place_of_service": ch.place_of_service,
            "total_charge": Decimal(0),
            "status": (ClaimStatus.DRAFT if payer is None else ClaimStatus.READY).value,
            "frequency": ClaimFrequency.ORIGINAL.value,
        }
        claim = pm.tables["claims"][pm.write("claims", None, values)]
    claim_id, pcn = int(claim["id"]), claim["patient_control_number"]
    number = len(pm.rows("claim_lines", claim_id=claim_id))
    codes: list[str] = list(claim["diagnosis_codes"] or [])
    total = Decimal(str(claim["total_charge"]))
    for charge in charges:
        number += 1
        pm.write("claim_lines", None, claim_line(charge, claim_id, number, pcn, codes))
        pm.write("charges", charge, {"status": ChargeStatus.BILLED.value, "claim_id": claim_id})
        total += Decimal(str(charge["amount"]))
    pm.write("claims", claim, {"diagnosis_codes": codes, "total_charge": total})
    return claim_id


def _submission_row(pm: MemoryPm, partner: str, isa: str, gs: str, st: str) -> Row | None:
    return pm.first(
        "submissions",
        partner=partner,
        interchange_control_number=isa,
        group_control_number=gs,
        transaction_control_number=st,
    )


def _mark_submitted(pm: MemoryPm, ch: bc.MarkClaimsSubmitted) -> int:
    isa, gs, st = (
        ch.interchange_control_number,
        ch.group_control_number,
        ch.transaction_control_number,
    )
    found = _submission_row(pm, ch.partner, isa, gs, st)
    if found is not None:
        return int(found["id"])
    at = ch.submitted_at or pm.stamp.now
    values = {
        "partner": ch.partner,
        "interchange_control_number": isa,
        "group_control_number": gs,
        "transaction_control_number": st,
        "submitted_at": at,
        "claim_ids": [],
    }
    sub_id = pm.write("submissions", None, values)
    for pcn in ch.claim_numbers:
        claim = _claim_row(pm, pcn)
        check_transition(claim["status"], ClaimStatus.SUBMITTED)
        update = {
            "status": ClaimStatus.SUBMITTED.value,
            "submitted_at": at,
            "batch_control_number": isa,
        }
        pm.write("claims", claim, update)
        pm.tables["submissions"][sub_id]["claim_ids"].append(claim["id"])
    return sub_id


def _record_ack(pm: MemoryPm, ch: bc.RecordAcknowledgment) -> int:
    sub = _submission_row(
        pm,
        ch.partner,
        ch.interchange_control_number,
        ch.group_control_number,
        ch.transaction_control_number,
    )
    if sub is None:
        raise NotFound("submission not known", code="unknown_submission")
    at = ch.at or pm.stamp.now
    pm.write(
        "submissions", sub, {"ack_result": ch.result.value, "ack_reason": ch.reason, "acked_at": at}
    )
    target = ClaimStatus.REJECTED if ch.result is AckResult.REJECTED else ClaimStatus.ACCEPTED
    for claim_id in sorted(sub["claim_ids"]):
        claim = pm.tables["claims"][claim_id]
        _set_status(pm, claim, target)
        _event(
            pm,
            ClaimStatusEvent(claim["patient_control_number"], at, "999", detail=ch.reason),
            claim_id,
        )
    return int(sub["id"])


def _event(pm: MemoryPm, ev: ClaimStatusEvent, claim_id: int | None) -> int:
    values = {
        "claim_id": claim_id,
        "patient_control_number": ev.patient_control_number,
        "at": ev.at,
        "source": ev.source,
        "category_code": ev.category_code,
        "status_code": ev.status_code,
        "entity_code": ev.entity_code,
        "detail": ev.detail,
    }
    return pm.write("claim_status_events", None, values)


def _record_claim_status(pm: MemoryPm, ch: bc.RecordClaimStatus) -> int:
    claim = _claim_row(pm, ch.event.patient_control_number)
    if ch.new_status is not None:
        _set_status(pm, claim, ch.new_status)
    return _event(pm, ch.event, int(claim["id"]))


def _post_remittance(pm: MemoryPm, ch: bc.PostRemittance) -> int:
    rem = ch.remittance
    payer = pm.resolve_payer(rem.payer)
    found = pm.first("remittances", payer_org_id=payer, trace_number=rem.trace_number)
    if found is not None:
        return int(found["id"])
    stored = {"payer_org_id": payer, "trace_number": rem.trace_number, "remittance": rem}
    rem_id = pm.write("remittances", None, stored)
    for cp in rem.claims:
        mp.claim_payment(pm, rem_id, cp, None)
    return rem_id


def _record_eligibility(pm: MemoryPm, ch: bc.RecordEligibility) -> int:
    chk = ch.check
    pid, cov = chk.patient_id, chk.coverage_id
    if ch.patient is not None:
        pid = pm.require_patient(ch.patient)
        if ch.coverage_priority is not None and cov is None:
            rows = pm.rows("coverages", patient_id=pid, priority=ch.coverage_priority)
            cov = rows[-1]["id"] if rows else None
    responded = chk.responded_at or pm.stamp.now
    values = {"patient_id": pid, "coverage_id": cov, "check": chk, "responded_at": responded}
    check_id = pm.write("eligibility_checks", None, values)
    if cov is not None:
        update = {"eligibility_status": chk.status.value, "eligibility_checked_at": responded}
        pm.write("coverages", pm.tables["coverages"][cov], update)
    return check_id


def _request_eligibility(pm: MemoryPm, ch: bc.RequestEligibility) -> int:
    pid = pm.require_patient(ch.patient)
    rows = pm.rows("coverages", patient_id=pid, priority=ch.coverage_priority)
    at = ch.requested_at or pm.stamp.now
    check = EligibilityCheck(ch.trace_number, EligibilityStatus.UNKNOWN, requested_at=at)
    values = {
        "patient_id": pid,
        "coverage_id": rows[-1]["id"] if rows else None,
        "check": check,
        "responded_at": None,
    }
    return pm.write("eligibility_checks", None, values)


HANDLERS: dict[type[Any], Callable[[MemoryPm, Any], int | None]] = {
    AddCharge: _add_charge,
    bc.BuildClaim: _build_claim,
    bc.MarkClaimsSubmitted: _mark_submitted,
    bc.RecordAcknowledgment: _record_ack,
    bc.RecordClaimStatus: _record_claim_status,
    bc.PostRemittance: _post_remittance,
    bc.RecordEligibility: _record_eligibility,
    bc.RequestEligibility: _request_eligibility,
    bc.PostClaimPayment: mp.post_claim_payment,
    bc.PostProviderAdjustments: mp.post_provider_adjustments,
}


# --- readers -----------------------------------------------------------------------------------


def claim(pm: MemoryPm, pcn: str) -> Claim | None:
    row = pm.first("claims", patient_control_number=pcn)
    if row is None:
        return None
    lines = sorted(pm.rows("claim_lines", claim_id=row["id"]), key=lambda r: r["line_number"])
    return convert.claim(row, lines)


def submission(pm: MemoryPm, partner: str, isa: str, gs: str, st: str) -> Submission | None:
    r = _submission_row(pm, partner, isa, gs, st)
    if r is None:
        return None
    pcns = tuple(pm.tables["claims"][i]["patient_control_number"] for i in sorted(r["claim_ids"]))
    result = AckResult(r["ack_result"]) if r.get("ack_result") else None
    return Submission(
        partner, isa, gs, st, pcns, result, r.get("ack_reason"), r["submitted_at"], r["id"]
    )


def status_events(pm: MemoryPm, pcn: str) -> list[ClaimStatusEvent]:
    return [
        ClaimStatusEvent(
            r["patient_control_number"],
            r["at"],
            r["source"],
            r["category_code"],
            r["status_code"],
            r["entity_code"],
            r["detail"],
            r["claim_id"],
            r["id"],
        )
        for r in pm.rows("claim_status_events", patient_control_number=pcn)
    ]


def remittance(pm: MemoryPm, payer: PayerRef, trace_number: str) -> Remittance | None:
    if payer.local_id:
        org = pm.first("organizations", kind="payer", local_id=payer.local_id)
    else:
        org = pm.first("organizations", kind="payer", local_id=None, name=payer.name)
    row = (
        None
        if org is None
        else pm.first("remittances", payer_org_id=org["id"], trace_number=trace_number)
    )
    if row is None:
        return None
    rem: Remittance = row["remittance"]
    claims = tuple(_linked(pm, cp) for cp in rem.claims)
    return Remittance(
        rem.payer,
        rem.trace_number,
        rem.total_paid,
        rem.payment_method,
        rem.payment_date,
        claims,
        rem.provider_adjustments,
        row["id"],
    )


def _linked(pm: MemoryPm, cp: ClaimPayment) -> ClaimPayment:
    row = pm.first("claims", patient_control_number=cp.patient_control_number)
    lines = (
        {}
        if row is None
        else {
            r["line_item_control_number"]: r["id"]
            for r in pm.rows("claim_lines", claim_id=row["id"])
        }
    )
    services = tuple(
        ServicePayment(
            s.code,
            s.charge_amount,
            s.paid_amount,
            s.modifiers,
            s.units,
            s.service_date,
            s.line_item_control_number,
            s.adjustments,
            s.remark_codes,
            lines.get(s.line_item_control_number),
        )
        for s in cp.services
    )
    return ClaimPayment(
        cp.patient_control_number,
        cp.status,
        cp.charge_amount,
        cp.paid_amount,
        cp.patient_responsibility,
        cp.payer_claim_number,
        services,
        cp.adjustments,
        cp.remark_codes,
        None if row is None else row["id"],
    )


def checks_of(pm: MemoryPm, patient_id: int) -> list[EligibilityCheck]:
    out = []
    for r in pm.rows("eligibility_checks", patient_id=patient_id):
        chk: EligibilityCheck = r["check"]
        benefits: tuple[Benefit, ...] = chk.benefits
        out.append(
            EligibilityCheck(
                chk.trace_number,
                EligibilityStatus(chk.status),
                patient_id,
                r["coverage_id"],
                chk.requested_at,
                r["responded_at"],
                benefits,
                r["id"],
            )
        )
    return out
