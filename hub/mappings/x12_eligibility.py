"""271 reader results into an :class:`EligibilityCheck` with its benefits.

EB01 (X12 element 1390) becomes neutral words; the check is ``active`` when a benefit says the
coverage is active (EB01 1-5), ``inactive`` when one says it is not (6-8) and none says it is,
else ``unknown`` (an AAA rejection, or benefits only). AAA errors are kept as benefit-less
messages (``error``: the reject reason code AAA03 and the follow-up AAA04).
"""

from __future__ import annotations

from datetime import datetime

from hub.adapters.x12.readers.eligibility import EbBenefit, EligibilityReport
from hub.pm.billing import Benefit, EligibilityCheck
from hub.pm.enums import EligibilityStatus

EB01 = {
    "1": "active",
    "2": "active-immediate-care",
    "3": "active-non-covered",
    "4": "active-limited",
    "5": "active-pending",
    "6": "inactive",
    "7": "inactive-pending-eligibility",
    "8": "inactive-pending-investigation",
    "A": "co-insurance",
    "B": "co-payment",
    "C": "deductible",
    "CB": "coverage-basis",
    "D": "benefit-description",
    "E": "exclusions",
    "F": "limitations",
    "G": "out-of-pocket",
    "I": "non-covered",
    "J": "cost-containment",
    "K": "reserve",
    "L": "primary-care-provider",
    "MC": "managed-care-coordinator",
    "N": "services-restricted",
    "P": "benefit-disclaimer",
    "R": "other-payer",
    "U": "contact-for-information",
    "W": "other-source",
    "X": "health-care-facility",
    "Y": "spend-down",
}
_ACTIVE = frozenset("12345")
_INACTIVE = frozenset("678")


def _benefit(eb: EbBenefit) -> Benefit:
    network = {"Y": True, "N": False}.get(eb.in_network or "")
    return Benefit(
        code=EB01.get(eb.info, f"eb-{eb.info}"),
        service_type="^".join(eb.service_types) or None,
        coverage_level=eb.coverage_level,
        in_network=network,
        amount=eb.amount,
        percent=eb.percent,
        period=eb.period,
        message="; ".join(m for m in (eb.plan, *eb.messages) if m) or None,
    )


def status(report: EligibilityReport) -> EligibilityStatus:
    infos = {b.info for b in report.benefits}
    if infos & _ACTIVE:
        return EligibilityStatus.ACTIVE
    if infos & _INACTIVE:
        return EligibilityStatus.INACTIVE
    return EligibilityStatus.UNKNOWN


def check(
    report: EligibilityReport,
    *,
    at: datetime,
    patient_id: int | None = None,
    coverage_id: int | None = None,
) -> EligibilityCheck:
    benefits = [_benefit(b) for b in report.benefits]
    benefits += [
        Benefit("error", message=f"AAA {e.reason} follow-up {e.follow_up or '-'}")
        for e in report.errors
    ]
    return EligibilityCheck(
        trace_number=report.trace_number or "",
        status=status(report),
        patient_id=patient_id,
        coverage_id=coverage_id,
        responded_at=at,
        benefits=tuple(benefits),
    )
