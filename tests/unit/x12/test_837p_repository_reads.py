"""What the X12 outbound services read and write through the PM repositories, on every
implementation (in memory, SQLite, PostgreSQL): encounters with open charges, claims by status,
a coverage by id, a claim's prior authorisation, and the eligibility check a 270 records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from support.pm_repos import Pms

from hub.pm.billing_changes import BuildClaim, RequestEligibility
from hub.pm.changes import AddCharge, UpsertCoverage, UpsertEncounter, UpsertPatient
from hub.pm.enums import ClaimStatus, EligibilityStatus
from hub.pm.keys import Identifier, PatientKey, PayerRef
from hub.pm.repositories import PmRepository

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ANNA = PatientKey("NORTH", "MRN1")
BEN = PatientKey("NORTH", "MRN2")


def register(pm: PmRepository, key: PatientKey, visit: str) -> int:
    pm.apply(UpsertPatient(key, (Identifier(key.mrn, "NORTH", "MR"),), {"family_name": "DOE"}))
    pm.apply(UpsertEncounter(key, visit, {"status": "in-progress"}))
    fields = {"member_id": "MEM1", "relationship": "self", "eligibility_status": "active"}
    pm.apply(UpsertCoverage(key, 1, PayerRef("P77", "Synthetic Mutual"), fields))
    patient = pm.patients.get(key)
    assert patient is not None
    return patient.id


def charge(pm: PmRepository, key: PatientKey, tid: str, visit: str) -> None:
    pm.apply(
        AddCharge(key, tid, "1", date(2026, 11, 20), "99213", Decimal("100.00"), Decimal(1),
                  diagnosis_codes=("E11.9",), visit_number=visit)
    )  # fmt: skip


def test_unbilled_encounters_and_claims_by_status(pms: Pms) -> None:
    pm = pms.at(T0)
    register(pm, ANNA, "V1")
    register(pm, BEN, "V9")
    charge(pm, ANNA, "T1", "V1")
    charge(pm, BEN, "T2", "V9")
    assert pm.billing.unbilled_encounters() == [(ANNA, "V1"), (BEN, "V9")]
    assert pm.billing.claims_with_status(ClaimStatus.READY) == []
    pm.apply(BuildClaim(ANNA, "V1"))
    assert pm.billing.unbilled_encounters() == [(BEN, "V9")]
    [ready] = pm.billing.claims_with_status(ClaimStatus.READY)
    assert ready.lines[0].code == "99213" and ready.prior_authorization is None
    assert pm.billing.claims_with_status(ClaimStatus.SUBMITTED) == []


def test_coverage_by_id(pms: Pms) -> None:
    pm = pms.at(T0)
    pid = register(pm, ANNA, "V1")
    [cov] = pm.scheduling.coverages_of(pid)
    found = pm.scheduling.coverage(cov.meta.id)
    assert found is not None and found.member_id == "MEM1" and found.patient_id == pid
    assert pm.scheduling.coverage(cov.meta.id + 1000) is None


def test_a_270_records_a_check_without_touching_the_coverage(pms: Pms) -> None:
    pm = pms.at(T0)
    pid = register(pm, ANNA, "V1")
    pm.apply(RequestEligibility("000000007-1", ANNA, 1, T0))
    [check] = pm.eligibility.checks_of(pid)
    [cov] = pm.scheduling.coverages_of(pid)
    assert (check.trace_number, check.status, check.coverage_id) == (
        "000000007-1", EligibilityStatus.UNKNOWN, cov.meta.id,
    )  # fmt: skip
    assert check.requested_at == T0 and check.responded_at is None
    assert cov.eligibility_status is EligibilityStatus.ACTIVE
