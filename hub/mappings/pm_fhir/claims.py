"""PM claims, claim status results and 835 payments → Claim, ClaimResponse and
ExplanationOfBenefit. Amounts are the PM's Decimals, written exactly.

* Claim: the 837P the PM built (CLM01 as identifier, lines as items with CPT codes, ICD-10-CM
  diagnoses); the PM's claim status (draft, submitted, paid, ...) in an extension, since
  FHIR's Claim.status is only the record's state.
* ClaimResponse: one per status result (999 or 277CA acknowledgement, 277): accepted results
  are ``complete``, rejections ``error``, with the category and status codes kept.
* ExplanationOfBenefit: one per claim payment (an 835 CLP loop), with its service lines,
  CARC adjustments (group and reason) and RARC remarks, paid and charged totals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hub.mappings.pm_fhir.common import (
    EXTENSION_BASE,
    SYSTEMS,
    day,
    identifier,
    instant,
    money,
    reference,
    resource,
)
from hub.pm.billing import Adjustment
from hub.pm.enums import ClaimFrequency, ClaimPaymentStatus, ClaimStatus
from hub.pm.views import ClaimPaymentView, ClaimStatusView, ClaimView

CPT = "http://www.ama-assn.org/go/cpt"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CLAIM_TYPE = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}
    ]
}
CLAIM_STATUS_EXT = EXTENSION_BASE + "claim-status"
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC = "https://x12.org/codes/remittance-advice-remark-codes"
GROUP = "https://x12.org/codes/claim-adjustment-group-codes"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
STATUS_CATEGORY = "https://x12.org/codes/claim-status-category-codes"
STATUS_CODE = "https://x12.org/codes/claim-status-codes"
_GROUP_CODES = {
    "contractual": "CO",
    "correction": "CR",
    "other": "OA",
    "payer_initiated": "PI",
    "patient_responsibility": "PR",
}
_UNKNOWN = {"display": "unknown"}


def _claim_status(view: ClaimView) -> str:
    c = view.claim
    if c.frequency is ClaimFrequency.VOID:
        return "cancelled"
    return "draft" if c.status is ClaimStatus.DRAFT else "active"


def claim(view: ClaimView) -> dict[str, Any]:
    c = view.claim
    items = [
        {
            "sequence": ln.line_number,
            "diagnosisSequence": list(ln.diagnosis_pointers),
            "productOrService": {"coding": [{"system": CPT, "code": ln.code}]},
            "modifier": [{"coding": [{"code": m}]} for m in ln.modifiers],
            "servicedDate": day(ln.service_date),
            "quantity": {"value": ln.units},
            "net": money(ln.amount),
        }
        for ln in c.lines
    ]
    provider = reference("Practitioner", c.rendering_provider_id or c.billing_provider_id)
    coverage = reference("Coverage", c.coverage_id) or _UNKNOWN
    return resource(
        "Claim",
        view.meta.id,
        view.meta,
        extension=[{"url": CLAIM_STATUS_EXT, "valueCode": c.status.value}],
        identifier=[identifier(SYSTEMS["pcn"], c.patient_control_number)],
        status=_claim_status(view),
        type=CLAIM_TYPE,
        use="claim",
        patient=reference("Patient", c.patient_id),
        created=instant(view.created_at or c.submitted_at or view.meta.updated_at),
        insurer=reference("Organization", c.payer_org_id),
        provider=provider or _UNKNOWN,
        priority={
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/processpriority",
                    "code": "normal",
                }
            ]
        },
        insurance=[{"sequence": 1, "focal": True, "coverage": coverage}],
        diagnosis=[
            {
                "sequence": i,
                "diagnosisCodeableConcept": {"coding": [{"system": ICD10, "code": code}]},
            }
            for i, code in enumerate(c.diagnosis_codes, start=1)
        ],
        item=items,
        total=money(c.total_charge),
        related=[{"claim": {"identifier": identifier(SYSTEMS["payer"], c.original_claim_number)}}]
        if c.original_claim_number
        else [],
    )


_REJECTED_CATEGORIES = ("A3", "A4", "A6", "A7", "A8", "E")


def claim_response(view: ClaimStatusView) -> dict[str, Any]:
    ev = view.event
    category = (ev.category_code or "").upper()
    rejected = category.startswith(_REJECTED_CATEGORIES) or (ev.status_code or "").upper() in (
        "R",
        "REJECTED",
    )
    codes = []
    if ev.category_code:
        codes.append({"system": STATUS_CATEGORY, "code": ev.category_code})
    if ev.status_code:
        codes.append({"system": STATUS_CODE, "code": ev.status_code})
    return resource(
        "ClaimResponse",
        view.meta.id,
        view.meta,
        identifier=[identifier(SYSTEMS["pcn"], ev.patient_control_number)]
        if ev.patient_control_number
        else [],
        status="active",
        type=CLAIM_TYPE,
        use="claim",
        patient=reference("Patient", view.patient_id) or _UNKNOWN,
        created=instant(ev.at),
        insurer=reference("Organization", view.payer_org_id) or _UNKNOWN,
        request=reference("Claim", ev.claim_id),
        outcome="error" if rejected else "complete",
        disposition=f"{ev.source} {category or ev.status_code or ''}".strip(),
        processNote=[{"number": 1, "type": "display", "text": ev.detail}] if ev.detail else [],
        error=[{"code": {"coding": codes}}] if rejected and codes else [],
    )


def _adjudications(adjs: tuple[Adjustment, ...]) -> list[dict[str, Any]]:
    return [
        {
            "category": {
                "coding": [
                    {"system": GROUP, "code": _GROUP_CODES.get(a.group.value, a.group.value)}
                ]
            },
            "reason": {"coding": [{"system": CARC, "code": a.reason_code}]},
            "amount": money(a.amount),
            "value": a.quantity,
        }
        for a in adjs
    ]


def _amount(code: str, value: Decimal | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "category": {"coding": [{"system": ADJUDICATION, "code": code}]},
        "amount": money(value),
    }


def explanation_of_benefit(view: ClaimPaymentView) -> dict[str, Any]:
    p = view.payment
    items = [
        {
            "sequence": i,
            "productOrService": {"coding": [{"system": CPT, "code": s.code}]},
            "modifier": [{"coding": [{"code": m}]} for m in s.modifiers],
            "servicedDate": day(s.service_date),
            "quantity": {"value": s.units} if s.units is not None else None,
            "net": money(s.charge_amount),
            "noteNumber": [],
            "adjudication": [
                _amount("submitted", s.charge_amount),
                _amount("benefit", s.paid_amount),
                *_adjudications(s.adjustments),
                *(
                    {
                        "category": {"coding": [{"system": ADJUDICATION, "code": "submitted"}]},
                        "reason": {"coding": [{"system": RARC, "code": r}]},
                    }
                    for r in s.remark_codes
                ),
            ],
        }
        for i, s in enumerate(p.services, start=1)
    ]
    ids = [identifier(SYSTEMS["pcn"], p.patient_control_number)]
    if p.payer_claim_number:
        ids.append(identifier(SYSTEMS["payer"], p.payer_claim_number))
    cancelled = p.status is ClaimPaymentStatus.REVERSAL
    return resource(
        "ExplanationOfBenefit",
        view.meta.id,
        view.meta,
        identifier=ids,
        status="cancelled" if cancelled else "active",
        type=CLAIM_TYPE,
        use="claim",
        patient=reference("Patient", view.patient_id) or _UNKNOWN,
        created=day(view.payment_date) or instant(view.meta.updated_at),
        insurer=reference("Organization", view.payer_org_id) or _UNKNOWN,
        provider=_UNKNOWN,
        claim=reference("Claim", p.claim_id),
        outcome="complete" if p.status is not ClaimPaymentStatus.PENDED else "queued",
        disposition=p.status.value,
        insurance=[{"focal": True, "coverage": _UNKNOWN}],
        item=items,
        adjudication=_adjudications(p.adjustments),
        total=[
            t
            for t in (
                _amount("submitted", p.charge_amount),
                _amount("benefit", p.paid_amount),
                _amount("copay", p.patient_responsibility),
            )
            if t is not None
        ],
        payment={
            "amount": money(p.paid_amount),
            "date": day(view.payment_date),
            "identifier": identifier(SYSTEMS["payer"], view.trace_number)
            if view.trace_number
            else None,
        },
        processNote=[
            {"number": i, "type": "display", "text": f"RARC {code}"}
            for i, code in enumerate(p.remark_codes, start=1)
        ],
    )
