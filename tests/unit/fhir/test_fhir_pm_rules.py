"""The PM changes FHIR writes add (whole claims, organizations and practitioners written as
themselves, deletes with their dependency rules), on every repository (memory, SQLite,
PostgreSQL: the ``pms`` fixture)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from support.pm_repos import Pms

from hub.errors import Conflict
from hub.pm.billing import ClaimLine
from hub.pm.billing_changes import MarkClaimsSubmitted, UpsertClaim
from hub.pm.changes import (
    DeleteRecord,
    UpsertCoverage,
    UpsertEncounter,
    UpsertOrganization,
    UpsertPatient,
    UpsertProvider,
)
from hub.pm.enums import ClaimStatus
from hub.pm.keys import PatientKey, PayerRef, ProviderRef

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
KEY = PatientKey("NORTH", "F1")
LINE = ClaimLine(1, date(2026, 12, 1), "99213", Decimal("125.10"))


def test_a_whole_claim_is_created_replaced_then_locked_once_submitted(pms: Pms) -> None:
    pm = pms.at(T0)
    pm.apply(UpsertPatient(KEY, (), {"family_name": "DOE"}))
    pm.apply(UpsertCoverage(KEY, 1, PayerRef("P1", "Plan"), {}))
    pm.apply(UpsertClaim(KEY, "PCN-9", (LINE,), ("R50.9",), coverage_priority=1))
    claim = pm.billing.claim("PCN-9")
    assert claim is not None
    assert (claim.status, claim.total_charge) == (ClaimStatus.READY, Decimal("125.10"))
    second = ClaimLine(2, date(2026, 12, 1), "87880", Decimal("0.30"))
    pm.apply(UpsertClaim(KEY, "PCN-9", (second,), coverage_priority=1))
    claim = pm.billing.claim("PCN-9")
    assert claim is not None
    assert [line.code for line in claim.lines] == ["87880"]
    assert claim.total_charge == Decimal("0.30")
    pm.apply(MarkClaimsSubmitted("CH", "1", "1", "0001", ("PCN-9",)))
    with pytest.raises(Conflict) as caught:
        pm.apply(UpsertClaim(KEY, "PCN-9", (LINE,)))
    assert caught.value.code == "claim_locked"
    with pytest.raises(Conflict):
        pm.apply(DeleteRecord("claims", claim.id or 0))


def test_a_patient_with_claims_is_not_deleted_and_says_why(pms: Pms) -> None:
    pm = pms.at(T0)
    pm.apply(UpsertPatient(KEY, (), {"family_name": "DOE"}))
    pm.apply(UpsertClaim(KEY, "PCN-1", (LINE,), draft=True))
    patient = pm.patients.get(KEY)
    assert patient is not None
    with pytest.raises(Conflict) as caught:
        pm.apply(DeleteRecord("patients", patient.id))
    assert (caught.value.code, caught.value.message) == ("in_use", "the patient has claims")
    claim = pm.billing.claim("PCN-1")
    assert claim is not None and claim.id is not None
    pm.apply(DeleteRecord("claims", claim.id))  # a draft claim may go
    pm.apply(DeleteRecord("patients", patient.id))
    assert pm.patients.get(KEY) is None
    assert pm.history.of("patients", patient.id)[-1].changes == {"deleted": [False, True]}


def test_an_encounter_is_deletable_until_billed(pms: Pms) -> None:
    pm = pms.at(T0)
    pm.apply(UpsertPatient(KEY, (), {}))
    encounter_id = pm.apply(UpsertEncounter(KEY, "V1", {}))
    assert encounter_id is not None
    pm.apply(UpsertClaim(KEY, "PCN-2", (LINE,), visit_number="V1", draft=True))
    with pytest.raises(Conflict) as caught:
        pm.apply(DeleteRecord("encounters", encounter_id))
    assert caught.value.message == "the encounter is billed on a claim"


def test_organizations_and_practitioners_are_written_as_themselves(pms: Pms) -> None:
    pm = pms.at(T0)
    org = pm.apply(UpsertOrganization("payer", "P1", {"name": "Plan", "tax_id": "12-3"}))
    again = pm.apply(UpsertOrganization("payer", "P1", {"name": "Plan Two"}))
    assert org == again
    assert org is not None
    found = pm.references.organization(org)
    assert found is not None and (found.name, found.tax_id) == ("Plan Two", "12-3")
    assert pm.references.resolve_payer(PayerRef("P1", "")) == org  # the payer HL7 IN1-3 finds
    doc = pm.apply(UpsertProvider(ProviderRef(npi="1234567893", family_name="Doctor")))
    assert doc == pm.references.resolve_provider(ProviderRef(npi="1234567893"))
