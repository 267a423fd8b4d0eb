"""PM → FHIR R4 (issue 11 item 5): one module per family of resources, and :data:`TYPES`, the
table from a FHIR resource type to the PM kind it reads, its mapping function and the
references it carries (what ``_include`` can follow). Pure: PM values in, JSON form out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.mappings.pm_fhir import claims, coverage, patient, people, visits
from hub.pm.entities import Appointment, Encounter, Provider
from hub.pm.queries import Kind
from hub.pm.views import ClaimPaymentView, ClaimStatusView, ClaimView, CoverageView

Refs = dict[str, list[tuple[str, int]]]  # search parameter -> [(type, id)]


@dataclass(frozen=True, slots=True)
class TypeMap:
    kind: Kind
    to_fhir: Callable[[Any], dict[str, Any]]
    references: Callable[[Any], Refs]


def _none(_: Any) -> Refs:
    return {}


def _refs(**pairs: tuple[str, int | None]) -> Refs:
    out: Refs = {}
    for name, (type_name, ident) in pairs.items():
        if ident is not None:
            out.setdefault(name, []).append((type_name, int(ident)))
    return out


def _appointment_refs(a: Appointment) -> Refs:
    refs = _refs(
        patient=("Patient", a.patient_id),
        practitioner=("Practitioner", a.provider_id),
        location=("Location", a.location_id),
    )
    refs["actor"] = [r for k in ("patient", "practitioner", "location") for r in refs.get(k, [])]
    return refs


def _encounter_refs(e: Encounter) -> Refs:
    refs = _refs(
        patient=("Patient", e.patient_id),
        practitioner=("Practitioner", e.attending_provider_id),
        location=("Location", e.location_id),
    )
    refs["subject"] = refs.get("patient", [])
    return refs


def _coverage_refs(v: CoverageView) -> Refs:
    refs = _refs(
        patient=("Patient", v.coverage.patient_id), payor=("Organization", v.coverage.payer_org_id)
    )
    refs["beneficiary"] = refs.get("patient", [])
    return refs


def _claim_refs(v: ClaimView) -> Refs:
    c = v.claim
    return _refs(
        patient=("Patient", c.patient_id),
        insurer=("Organization", c.payer_org_id),
        provider=("Practitioner", c.rendering_provider_id or c.billing_provider_id),
        encounter=("Encounter", c.encounter_id),
    )


def _status_refs(v: ClaimStatusView) -> Refs:
    return _refs(
        patient=("Patient", v.patient_id),
        request=("Claim", v.event.claim_id),
        insurer=("Organization", v.payer_org_id),
    )


def _eob_refs(v: ClaimPaymentView) -> Refs:
    return _refs(
        patient=("Patient", v.patient_id),
        claim=("Claim", v.payment.claim_id),
        insurer=("Organization", v.payer_org_id),
    )


def _role_refs(p: Provider) -> Refs:
    return _refs(
        practitioner=("Practitioner", p.meta.id), organization=("Organization", p.organization_id)
    )


TYPES: dict[str, TypeMap] = {
    "Patient": TypeMap(Kind.PATIENT, patient.to_fhir, _none),
    "Practitioner": TypeMap(Kind.PROVIDER, people.practitioner, _none),
    "PractitionerRole": TypeMap(Kind.PROVIDER, people.practitioner_role, _role_refs),
    "Schedule": TypeMap(
        Kind.PROVIDER, people.schedule, lambda p: _refs(actor=("Practitioner", p.meta.id))
    ),
    "Organization": TypeMap(Kind.ORGANIZATION, people.organization, _none),
    "Location": TypeMap(Kind.LOCATION, people.location, _none),
    "Coverage": TypeMap(Kind.COVERAGE, coverage.to_fhir, _coverage_refs),
    "Encounter": TypeMap(Kind.ENCOUNTER, visits.encounter, _encounter_refs),
    "Appointment": TypeMap(Kind.APPOINTMENT, visits.appointment, _appointment_refs),
    "Slot": TypeMap(
        Kind.APPOINTMENT, visits.slot, lambda a: _refs(schedule=("Schedule", a.provider_id))
    ),
    "Claim": TypeMap(Kind.CLAIM, claims.claim, _claim_refs),
    "ClaimResponse": TypeMap(Kind.CLAIM_STATUS, claims.claim_response, _status_refs),
    "ExplanationOfBenefit": TypeMap(Kind.CLAIM_PAYMENT, claims.explanation_of_benefit, _eob_refs),
}
