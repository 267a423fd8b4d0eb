"""PM Coverage → FHIR Coverage, with the latest eligibility answer (X12 271) on it.

Choice (ADR 0020): eligibility is carried as an extension on the Coverage
(``.../coverage-eligibility``: status, when it was checked, and each benefit line with its
code, service type, network, amount and percent) rather than as a separate
CoverageEligibilityResponse: the PM keeps the answer as a property of the coverage, and a
client reading a patient's coverages sees at once whether each is active.
"""

from __future__ import annotations

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
from hub.pm.billing import Benefit, EligibilityCheck
from hub.pm.views import CoverageView

ELIGIBILITY = EXTENSION_BASE + "coverage-eligibility"
RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
_RELATIONSHIPS = {"self", "spouse", "child", "other"}


def _benefit(b: Benefit) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"url": "code", "valueString": b.code}]
    if b.service_type:
        parts.append({"url": "serviceType", "valueString": b.service_type})
    if b.coverage_level:
        parts.append({"url": "coverageLevel", "valueString": b.coverage_level})
    if b.in_network is not None:
        parts.append({"url": "inNetwork", "valueBoolean": b.in_network})
    if b.amount is not None:
        parts.append({"url": "amount", "valueMoney": money(b.amount)})
    if b.percent is not None:
        parts.append({"url": "percent", "valueDecimal": b.percent})
    if b.period:
        parts.append({"url": "period", "valueString": b.period})
    return {"url": "benefit", "extension": parts}


def eligibility(check: EligibilityCheck) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"url": "status", "valueCode": check.status.value}]
    when = check.responded_at or check.requested_at
    if when is not None:
        parts.append({"url": "checked", "valueDateTime": instant(when)})
    if check.trace_number:
        parts.append({"url": "trace", "valueString": check.trace_number})
    parts.extend(_benefit(b) for b in check.benefits)
    return {"url": ELIGIBILITY, "extension": parts}


def to_fhir(view: CoverageView) -> dict[str, Any]:
    c = view.coverage
    classes = []
    if c.group_number:
        classes.append(
            {
                "type": {"coding": [{"system": CLASS, "code": "group"}]},
                "value": c.group_number,
                "name": c.group_name,
            }
        )
    if c.plan_id:
        classes.append(
            {
                "type": {"coding": [{"system": CLASS, "code": "plan"}]},
                "value": c.plan_id,
                "name": c.plan_name,
            }
        )
    rel = c.relationship if c.relationship in _RELATIONSHIPS else None
    payor = reference("Organization", c.payer_org_id) or {"display": "unknown payer"}
    return resource(
        "Coverage",
        c.meta.id,
        c.meta,
        extension=[eligibility(view.eligibility)] if view.eligibility else [],
        identifier=[identifier(SYSTEMS["member"], c.member_id)] if c.member_id else [],
        status="active" if c.active else "cancelled",
        subscriberId=c.subscriber_id,
        beneficiary=reference("Patient", c.patient_id),
        relationship={"coding": [{"system": RELATIONSHIP, "code": rel}]} if rel else None,
        period={"start": day(c.period_start), "end": day(c.period_end)},
        payor=[payor],
        order=c.priority if c.priority > 0 else None,
        **{"class": classes},
    )
