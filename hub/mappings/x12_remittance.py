"""835 reader results into PM values: X12 codes become the PM's neutral vocabularies here.

* CLP02 → :class:`ClaimPaymentStatus` (1/19 primary, 2/20 secondary, 3/21 tertiary, 4 denied,
  22 reversal of a previous payment, 23 not our claim, 25 predetermination: pended);
* CAS01 → :class:`AdjustmentGroup` (CO contractual, CR correction, OA other, PI payer initiated,
  PR patient responsibility); claim-level and line-level CAS stay where they were sent;
* LQ*HE, MOA and MIA remark codes are the claim's or line's RARCs;
* the payer is the 835's N1*PR: its REF*2U / N1*PR04 id, else TRN03, and its name.

Unknown CARC or RARC codes are not errors (:func:`code_warnings` names them); an unknown CLP02
or CAS01 is (the amounts could not be understood), with the element's location.
"""

from __future__ import annotations

from hub.adapters.x12.codes import CARC, RARC, unknown_codes
from hub.adapters.x12.readers.remittance import (
    CasAdjustment,
    ClaimRemit,
    ProviderAdjustmentRemit,
    RemitHeader,
    ServiceRemit,
)
from hub.errors import MappingError, X12Location
from hub.pm.billing import (
    Adjustment,
    ClaimPayment,
    ProviderAdjustment,
    Remittance,
    ServicePayment,
)
from hub.pm.enums import AdjustmentGroup, ClaimPaymentStatus
from hub.pm.keys import PayerRef

CLAIM_STATUS: dict[str, ClaimPaymentStatus] = {
    "1": ClaimPaymentStatus.PRIMARY,
    "19": ClaimPaymentStatus.PRIMARY,  # processed as primary, forwarded to another payer
    "2": ClaimPaymentStatus.SECONDARY,
    "20": ClaimPaymentStatus.SECONDARY,
    "3": ClaimPaymentStatus.TERTIARY,
    "21": ClaimPaymentStatus.TERTIARY,
    "4": ClaimPaymentStatus.DENIED,
    "22": ClaimPaymentStatus.REVERSAL,
    "23": ClaimPaymentStatus.NOT_OURS,
    "25": ClaimPaymentStatus.PENDED,  # predetermination pricing only: no payment
}
GROUPS: dict[str, AdjustmentGroup] = {
    "CO": AdjustmentGroup.CONTRACTUAL,
    "CR": AdjustmentGroup.CORRECTION,
    "OA": AdjustmentGroup.OTHER,
    "PI": AdjustmentGroup.PAYER_INITIATED,
    "PR": AdjustmentGroup.PATIENT_RESPONSIBILITY,
}


def payer(header: RemitHeader) -> PayerRef:
    return PayerRef(header.payer_id or header.payer_identifier or None, header.payer_name)


def remittance(header: RemitHeader, plbs: tuple[ProviderAdjustmentRemit, ...] = ()) -> Remittance:
    """The 835's header as a PM remittance (claims are posted one by one)."""
    return Remittance(
        payer=payer(header),
        trace_number=header.trace_number,
        total_paid=header.total_paid,
        payment_method=header.payment_method or None,
        payment_date=header.payment_date,
        provider_adjustments=tuple(
            ProviderAdjustment(
                p.provider_identifier, p.fiscal_period_end, a.reason, a.amount, a.reference
            )
            for p in plbs
            for a in p.amounts
        ),
    )


def _adjustment(cas: CasAdjustment) -> Adjustment:
    group = GROUPS.get(cas.group)
    if group is None:
        raise MappingError(
            "CAS01 is not a claim adjustment group code (CO, CR, OA, PI, PR)",
            code="x12_code",
            location=X12Location("CAS", cas.position, None, 1),
        )
    return Adjustment(group, cas.reason, cas.amount, cas.quantity)


def _service(svc: ServiceRemit) -> ServicePayment:
    return ServicePayment(
        code=svc.code,
        charge_amount=svc.charge,
        paid_amount=svc.paid,
        modifiers=svc.modifiers,
        units=svc.units,
        service_date=svc.service_date,
        line_item_control_number=svc.line_control_number,
        adjustments=tuple(_adjustment(a) for a in svc.adjustments),
        remark_codes=svc.remark_codes,
    )


def claim_payment(clp: ClaimRemit) -> ClaimPayment:
    status = CLAIM_STATUS.get(clp.status_code)
    if status is None:
        raise MappingError(
            "CLP02 is not a claim status code of 005010X221A1",
            code="x12_code",
            location=X12Location("CLP", clp.position, "2100", 2),
        )
    return ClaimPayment(
        patient_control_number=clp.patient_control_number,
        status=status,
        charge_amount=clp.charge,
        paid_amount=clp.paid,
        patient_responsibility=clp.patient_responsibility,
        payer_claim_number=clp.payer_claim_number,
        services=tuple(_service(s) for s in clp.services),
        adjustments=tuple(_adjustment(a) for a in clp.adjustments),
        remark_codes=clp.remark_codes,
    )


def code_warnings(clp: ClaimRemit) -> list[str]:
    """Texts naming the CARC and RARC codes the code lists do not know (no patient data)."""
    reasons = [a.reason for a in clp.adjustments]
    remarks = list(clp.remark_codes)
    for svc in clp.services:
        reasons.extend(a.reason for a in svc.adjustments)
        remarks.extend(svc.remark_codes)
    out = [f"unknown CARC {code} (posted as sent)" for code in unknown_codes(CARC, reasons)]
    out += [f"unknown RARC {code} (posted as sent)" for code in unknown_codes(RARC, remarks)]
    return out
