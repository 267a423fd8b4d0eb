"""FHIR Claim -> a PM claim written whole (UpsertClaim), keyed by its patient control number:
the first identifier's value (CLM01), else one derived from the minted id.

Lines from ``item``: ``sequence`` the line number, ``productOrService`` the CPT/HCPCS code,
``modifier`` codes, ``quantity`` the units, ``net`` (else ``unitPrice`` x ``quantity``) the
amount, exactly (decimals are never floats), ``servicedDate`` (else ``servicedPeriod.start``,
else ``billablePeriod.start``) the service date, ``diagnosisSequence`` the pointers into
``diagnosis`` (ordered by sequence). ``encounter`` of the first item names the patient's visit;
the focal ``insurance`` its coverage; ``insurer`` the payer; the first care team member (else
``provider``) that is a Practitioner the rendering provider; the first item's
``locationCodeableConcept`` the place of service (CMS POS code).
"""

from __future__ import annotations

from decimal import Decimal

from hub.mappings.fhir_pm.common import (
    Json,
    Mapped,
    Resolver,
    Target,
    code_in,
    decimal,
    first_coding,
    identifiers,
    invalid,
    items,
    optional_provider,
    parse_date,
    reference,
    require_type,
    required_patient,
    unknown_reference,
)
from hub.pm.billing import ClaimLine
from hub.pm.billing_changes import UpsertClaim
from hub.pm.changes import PayerRef

STATUS = {"active": False, "draft": True}


def _line(item: Json, index: int, claim: Json) -> ClaimLine:
    where = f"Claim.item[{index}]"
    sequence = item.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or not 1 <= sequence <= 999:
        raise invalid("sequence must be a positive integer", f"{where}.sequence")
    _, code = first_coding(item.get("productOrService"))
    if code is None:
        raise invalid("a procedure code is required", f"{where}.productOrService", "required")
    units = decimal((item.get("quantity") or {}).get("value"), f"{where}.quantity.value")
    net = decimal((item.get("net") or {}).get("value"), f"{where}.net.value")
    price = decimal((item.get("unitPrice") or {}).get("value"), f"{where}.unitPrice.value")
    amount = (
        net if net is not None else (price * (units or Decimal(1)) if price is not None else None)
    )
    if amount is None:
        raise invalid("net or unitPrice is required", f"{where}.net", "required")
    served = (
        item.get("servicedDate")
        or (item.get("servicedPeriod") or {}).get("start")
        or (claim.get("billablePeriod") or {}).get("start")
    )
    service_date = parse_date(served, f"{where}.servicedDate")
    if service_date is None:
        raise invalid("a service date is required", f"{where}.servicedDate", "required")
    modifiers = tuple(c for m in items(item, "modifier") if (c := first_coding(m)[1]))
    pointers = tuple(p for p in item.get("diagnosisSequence") or [] if isinstance(p, int))[:4]
    return ClaimLine(
        line_number=sequence,
        service_date=service_date,
        code=code,
        amount=amount,
        units=units if units is not None else Decimal(1),
        modifiers=modifiers[:4],
        diagnosis_pointers=pointers,
    )


def _rendering(resource: Json, resolver: Resolver) -> Json | None:
    for index, member in enumerate(items(resource, "careTeam")):
        ref = reference(member, "provider")
        if ref is not None and ref.startswith("Practitioner/"):
            return {"ref": ref, "where": f"Claim.careTeam[{index}].provider"}
    ref = reference(resource, "provider")
    if ref is not None and ref.startswith("Practitioner/"):
        return {"ref": ref, "where": "Claim.provider"}
    return None


def map_claim(resource: Json, target: Target, resolver: Resolver) -> Mapped:
    draft = code_in(resource.get("status"), STATUS, "Claim.status")
    patient = required_patient(resource, "patient", resolver, "Claim.patient")
    existing = resolver.claim(target.existing) if target.existing else None
    found = identifiers(resource)
    pcn = existing or (found[0][1] if found else f"F{target.minted}")
    if len(pcn) > 38:
        raise invalid(
            "a patient control number has at most 38 characters", "Claim.identifier[0].value"
        )
    lines = tuple(_line(item, i, resource) for i, item in enumerate(items(resource, "item")))
    if len({line.line_number for line in lines}) != len(lines):
        raise invalid("item sequences must be unique", "Claim.item")
    diagnoses = sorted(
        (d for d in items(resource, "diagnosis") if isinstance(d.get("sequence"), int)),
        key=lambda d: int(d["sequence"]),
    )
    codes = tuple(c for d in diagnoses if (c := first_coding(d.get("diagnosisCodeableConcept"))[1]))
    visit = None
    claim_items = items(resource, "item")
    encounter_refs = (
        [r for r in (reference({"e": e}, "e") for e in claim_items[0].get("encounter") or []) if r]
        if claim_items
        else []
    )
    if encounter_refs:
        require_type(encounter_refs[0], ("Encounter",), "Claim.item[0].encounter[0]")
        enc = resolver.encounter(encounter_refs[0])
        if enc is None:
            raise unknown_reference("Claim.item[0].encounter[0]")
        if enc.patient != patient:
            raise invalid("the encounter is another patient's", "Claim.item[0].encounter[0]")
        visit = enc.visit_number
    priority = None
    for index, insurance in enumerate(items(resource, "insurance")):
        ref = reference(insurance, "coverage")
        if ref is None or (priority is not None and not insurance.get("focal")):
            continue
        where = f"Claim.insurance[{index}].coverage"
        require_type(ref, ("Coverage",), where)
        cov = resolver.coverage(ref)
        if cov is None:
            raise unknown_reference(where)
        priority = cov.priority
    payer = None
    insurer = reference(resource, "insurer")
    if insurer is not None:
        require_type(insurer, ("Organization",), "Claim.insurer")
        org = resolver.organization(insurer)
        if org is None:
            raise unknown_reference("Claim.insurer")
        payer = PayerRef(org.local_id, (resource.get("insurer") or {}).get("display") or "")
    rendering = _rendering(resource, resolver)
    provider = (
        optional_provider(rendering["ref"], resolver, rendering["where"]) if rendering else None
    )
    pos = None
    if claim_items:
        _, pos = first_coding(claim_items[0].get("locationCodeableConcept"))
    change = UpsertClaim(
        patient=patient,
        patient_control_number=pcn,
        lines=lines,
        diagnosis_codes=codes[:12],
        draft=bool(draft),
        visit_number=visit,
        coverage_priority=priority,
        payer=payer,
        rendering=provider,
        place_of_service=pos[:2] if pos else None,
    )
    return Mapped((change,), "claims")
