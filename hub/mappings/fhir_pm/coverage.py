"""FHIR Coverage -> the patient's PM coverage (UpsertCoverage), keyed by (patient, priority).

``beneficiary`` names the patient; ``order`` is the priority (1 primary, IN1-1); ``payor`` an
Organization (the payer row :class:`PayerRef` finds by its local id); ``class`` of type
``plan`` and ``group`` fill plan and group; the first identifier is the member id;
``relationship`` keeps the PM's four words (self, spouse, child, other); ``status`` cancelled
or entered-in-error makes the coverage inactive.
"""

from __future__ import annotations

from hub.mappings.fhir_pm.common import (
    Json,
    Mapped,
    Resolver,
    Target,
    code_in,
    first_coding,
    identifiers,
    invalid,
    items,
    parse_date,
    put,
    reference,
    require_type,
    required_patient,
    text,
    unknown_reference,
)
from hub.pm.changes import PayerRef, UpsertCoverage

STATUS = {"active": 1, "draft": 1, "cancelled": 0, "entered-in-error": 0}
RELATIONSHIP = {"self": "self", "spouse": "spouse", "child": "child"}


def map_coverage(resource: Json, target: Target, resolver: Resolver) -> Mapped:
    active = code_in(resource.get("status"), STATUS, "Coverage.status")
    existing = resolver.coverage(target.existing) if target.existing else None
    patient = required_patient(resource, "beneficiary", resolver, "Coverage.beneficiary")
    order = resource.get("order", 1)
    if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= 99:
        raise invalid("order must be a positive integer below 100", "Coverage.order")
    priority = existing.priority if existing else order
    if existing is not None:
        patient = existing.patient
    fields: dict[str, object] = {"active": active}
    for concept in items(resource, "class"):
        _, kind = first_coding(concept.get("type"))
        if kind in ("plan", "group"):
            put(
                fields,
                f"{kind}_id" if kind == "plan" else "group_number",
                text(concept.get("value")),
            )
            put(fields, f"{kind}_name", text(concept.get("name")))
    found = identifiers(resource)
    put(fields, "member_id", found[0][1] if found else None)
    put(fields, "subscriber_id", text(resource.get("subscriberId")))
    _, relation = first_coding(resource.get("relationship"))
    put(fields, "relationship", None if relation is None else RELATIONSHIP.get(relation, "other"))
    period = resource.get("period") or {}
    put(fields, "period_start", parse_date(period.get("start"), "Coverage.period.start"))
    put(fields, "period_end", parse_date(period.get("end"), "Coverage.period.end"))
    payer = None
    payors = items(resource, "payor")
    ref = reference({"payor": payors[0]}, "payor") if payors else None
    payor_types = ("Organization", "Patient", "RelatedPerson")
    if ref is not None and require_type(ref, payor_types, "Coverage.payor[0]") == "Organization":
        org = resolver.organization(ref)
        if org is None:
            raise unknown_reference("Coverage.payor[0]")
        payer = PayerRef(org.local_id, text(payors[0].get("display")) or "")
    change = UpsertCoverage(patient, priority, payer, fields)
    return Mapped((change,), "coverages")
