"""PM values into FHIR R4 (pure): every mapping's output validates against the R4B models, and
the choices ADR 0020 documents hold (identifier systems, merged patients, statuses, money)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from hub.adapters.fhir import models
from hub.mappings.pm_fhir import TYPES, claims, coverage, patient, visits
from hub.mappings.pm_fhir.common import authority_system, namespace_of
from hub.pm.billing import (
    Claim,
    ClaimLine,
    ClaimPayment,
    ClaimStatusEvent,
)
from hub.pm.entities import Appointment, Coverage, Encounter, Patient, Versioned
from hub.pm.enums import (
    AdministrativeGender,
    AppointmentStatus,
    ClaimFrequency,
    ClaimPaymentStatus,
    ClaimStatus,
    EncounterClass,
    EncounterStatus,
)
from hub.pm.keys import Identifier, PatientKey
from hub.pm.views import ClaimPaymentView, ClaimStatusView, ClaimView, CoverageView

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
META = Versioned(7, 3, AT)


def test_patient_identifiers_systems_and_a_merge() -> None:
    p = Patient(
        META,
        PatientKey("NORTH CLINIC", "M1"),
        (Identifier("M1", "NORTH CLINIC", "MR"), Identifier("S9", "2.16.840.1.113883.4.1", "SS")),
        "Doe",
        "Jo",
        gender=AdministrativeGender.UNKNOWN,
        merged_into_id=3,
    )
    res = patient.to_fhir(p)
    assert models.validate(res) == []
    assert [(i.get("system"), i["value"]) for i in res["identifier"]] == [
        ("urn:hub:mrn:NORTH%20CLINIC", "M1"),
        ("urn:oid:2.16.840.1.113883.4.1", "S9"),
    ]
    assert res["active"] is False
    assert res["link"] == [{"other": {"reference": "Patient/3"}, "type": "replaced-by"}]
    assert res["meta"] == {"versionId": "3", "lastUpdated": "2026-01-02T03:04:05Z"}
    assert namespace_of("urn:hub:mrn:NORTH%20CLINIC") == "mrn:NORTH CLINIC"


@pytest.mark.parametrize(
    ("authority", "system"),
    [
        ("1.2.840.1", "urn:oid:1.2.840.1"),
        ("http://example.test/ids", "http://example.test/ids"),
        ("STATE REG", "urn:hub:authority:STATE%20REG"),
    ],
)
def test_authority_systems_round_trip(authority: str, system: str) -> None:
    assert authority_system(authority) == system
    assert namespace_of(system) == authority


def test_encounter_and_appointment_statuses() -> None:
    enc = visits.encounter(
        Encounter(META, 1, "V1", EncounterStatus.FINISHED, EncounterClass.EMERGENCY, AT, AT)
    )
    assert (enc["status"], enc["class"]["code"]) == ("finished", "EMER")
    assert models.validate(enc) == []
    gone = Appointment(META, "EHR", "F1", AppointmentStatus.DELETED)
    appt = visits.appointment(gone)
    assert appt["status"] == "entered-in-error"
    assert appt["participant"][0]["status"] == "needs-action"  # none known, still valid
    assert models.validate(appt) == []
    assert not visits.slot_of(gone)


def test_claim_money_exact_and_void_cancelled() -> None:
    line = ClaimLine(1, date(2026, 1, 5), "99213", Decimal("125.10"), Decimal("1"))
    claim = Claim(
        "PCN1",
        1,
        ClaimStatus.SUBMITTED,
        Decimal("125.10"),
        (line,),
        ("J06.9",),
        frequency=ClaimFrequency.VOID,
        original_claim_number="P-1",
        id=4,
    )
    res = claims.claim(ClaimView(META, claim, AT))
    assert res["status"] == "cancelled"
    assert res["total"] == {"value": Decimal("125.10"), "currency": "USD"}
    assert res["extension"][0]["valueCode"] == "submitted"
    assert models.validate(res) == []


def test_a_rejection_is_an_error_response() -> None:
    ev = ClaimStatusEvent("PCN1", AT, "277CA", "A7", "562", "85", "invalid NPI", 4, 9)
    res = claims.claim_response(ClaimStatusView(META, ev, 1, None))
    assert res["outcome"] == "error"
    assert [c["code"] for c in res["error"][0]["code"]["coding"]] == ["A7", "562"]
    assert res["insurer"] == {"display": "unknown"}
    assert models.validate(res) == []


def test_a_reversal_is_a_cancelled_eob_and_coverage_without_a_check() -> None:
    pay = ClaimPayment("PCN1", ClaimPaymentStatus.REVERSAL, Decimal("-10.00"), Decimal("-10.00"))
    res = claims.explanation_of_benefit(ClaimPaymentView(META, pay, 1, 2, "T", None, None))
    assert res["status"] == "cancelled"
    assert res["payment"]["amount"]["value"] == Decimal("-10.00")
    assert models.validate(res) == []
    cov = coverage.to_fhir(CoverageView(Coverage(META, 1, 2)))
    assert "extension" not in cov
    assert cov["payor"] == [{"display": "unknown payer"}]
    assert models.validate(cov) == []


def test_every_type_has_a_kind_and_a_mapping() -> None:
    assert set(TYPES) == {
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Schedule",
        "Organization",
        "Location",
        "Coverage",
        "Encounter",
        "Appointment",
        "Slot",
        "Claim",
        "ClaimResponse",
        "ExplanationOfBenefit",
    }
