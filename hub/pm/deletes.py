"""What may be deleted from the PM, and what stops it: one table both repositories read.

A client deleting a row (FHIR ``DELETE``) may remove it only while nothing the practice keeps
depends on it: a patient with claims or charges is part of the books, an encounter with charges
is billed work. Each rule names the dependent table and column and the words of the refusal.
Rows that belong to the deleted row alone (a patient's identifiers, a claim's lines) go with it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dependent:
    table: str
    column: str
    reason: str  # "the patient has claims": no data, only what kind of row is in the way


DEPENDENTS: dict[str, tuple[Dependent, ...]] = {
    "patients": (
        Dependent("claims", "patient_id", "the patient has claims"),
        Dependent("charges", "patient_id", "the patient has charges"),
        Dependent("encounters", "patient_id", "the patient has encounters"),
        Dependent("appointments", "patient_id", "the patient has appointments"),
        Dependent("coverages", "patient_id", "the patient has coverages"),
        Dependent("eligibility_checks", "patient_id", "the patient has eligibility checks"),
        Dependent("merge_records", "survivor_id", "the patient took part in a merge"),
        Dependent("merge_records", "merged_id", "the patient took part in a merge"),
    ),
    "encounters": (
        Dependent("charges", "encounter_id", "the encounter has charges"),
        Dependent("claims", "encounter_id", "the encounter is billed on a claim"),
    ),
    "appointments": (),
    "coverages": (
        Dependent("claims", "coverage_id", "the coverage is billed on a claim"),
        Dependent("eligibility_checks", "coverage_id", "the coverage has eligibility checks"),
    ),
    "providers": (
        Dependent("encounters", "attending_provider_id", "the practitioner attends encounters"),
        Dependent("appointments", "provider_id", "the practitioner has appointments"),
        Dependent("charges", "provider_id", "the practitioner has charges"),
        Dependent("claims", "rendering_provider_id", "the practitioner is on claims"),
        Dependent("claims", "billing_provider_id", "the practitioner is on claims"),
    ),
    "locations": (
        Dependent("encounters", "location_id", "the location has encounters"),
        Dependent("appointments", "location_id", "the location has appointments"),
    ),
    "organizations": (
        Dependent("coverages", "payer_org_id", "the organization pays coverages"),
        Dependent("claims", "payer_org_id", "the organization is billed on claims"),
        Dependent("remittances", "payer_org_id", "the organization has sent remittances"),
        Dependent("providers", "organization_id", "the organization has practitioners"),
        Dependent("locations", "organization_id", "the organization has locations"),
    ),
    "claims": (),
}

# Rows owned by the deleted row: removed with it (table, column pointing at it).
OWNED: dict[str, tuple[tuple[str, str], ...]] = {
    "patients": (("patient_identifiers", "patient_id"),),
    "claims": (("claim_lines", "claim_id"),),
}
