"""FHIR Coverage, Encounter, Appointment and Claim -> PM changes (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fhir_fakes import DictResolver

from hub.errors import FhirLocation, HubError
from hub.mappings.fhir_pm import Target, lane_keys, map_resource
from hub.pm.billing_changes import UpsertClaim
from hub.pm.changes import PayerRef, UpsertAppointment, UpsertCoverage, UpsertEncounter
from hub.pm.enums import AppointmentStatus, EncounterClass, EncounterStatus
from hub.pm.keys import (
    CoverageKey,
    EncounterKey,
    LocationRef,
    OrganizationKey,
    PatientKey,
    ProviderRef,
)

KEY = PatientKey("NORTHCLINIC", "MRN-77")
RESOLVER = DictResolver(
    patients={"Patient/1": KEY},
    providers={"Practitioner/2": ProviderRef(npi="1234567893")},
    locations={"Location/3": LocationRef("NORTHCLINIC", "ROOM1")},
    organizations={"Organization/4": OrganizationKey("payer", "PAY01")},
    encounters={"Encounter/5": EncounterKey(KEY, "V100")},
    coverages={"Coverage/6": CoverageKey(KEY, 1)},
)


def mapped(kind: str, resource: dict[str, object], existing: str | None = None):  # type: ignore[no-untyped-def]
    found = map_resource({"resourceType": kind, **resource}, Target(kind, "m9", existing), RESOLVER)
    return found.changes[0]


def error_of(kind: str, resource: dict[str, object]) -> HubError:
    with pytest.raises(HubError) as caught:
        mapped(kind, resource)
    return caught.value


def test_coverage_maps_order_payer_plan_and_member() -> None:
    change = mapped(
        "Coverage",
        {
            "status": "active",
            "beneficiary": {"reference": "Patient/1"},
            "payor": [{"reference": "Organization/4", "display": "Synthetic Plan"}],
            "order": 2,
            "identifier": [{"value": "MEM-1"}],
            "class": [
                {"type": {"coding": [{"code": "group"}]}, "value": "G-7", "name": "Group Seven"}
            ],
            "relationship": {"coding": [{"code": "spouse"}]},
            "period": {"start": "2026-01-01"},
        },
    )
    assert isinstance(change, UpsertCoverage)
    assert (change.patient, change.priority) == (KEY, 2)
    assert change.payer == PayerRef("PAY01", "Synthetic Plan")
    assert change.fields["member_id"] == "MEM-1"
    assert change.fields["group_number"] == "G-7"
    assert change.fields["relationship"] == "spouse"
    assert change.fields["period_start"] == date(2026, 1, 1)


def test_encounter_maps_status_class_period_attending_and_location() -> None:
    change = mapped(
        "Encounter",
        {
            "status": "arrived",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/1"},
            "identifier": [{"value": "V200"}],
            "period": {"start": "2026-12-01T09:30:00Z"},
            "participant": [{"individual": {"reference": "Practitioner/2"}}],
            "location": [{"location": {"reference": "Location/3"}}],
        },
    )
    assert isinstance(change, UpsertEncounter)
    assert (change.patient, change.visit_number) == (KEY, "V200")
    assert change.fields["status"] is EncounterStatus.IN_PROGRESS
    assert change.fields["class_code"] is EncounterClass.OUTPATIENT
    assert change.fields["admit_at"] == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert change.attending == ProviderRef(npi="1234567893")
    assert change.location == LocationRef("NORTHCLINIC", "ROOM1")


def test_encounter_lane_is_its_patients() -> None:
    resource = {"resourceType": "Encounter", "subject": {"reference": "Patient/1"}}
    assert lane_keys(resource, Target("Encounter", "m"), RESOLVER)[0] == "NORTHCLINIC/MRN-77"


@pytest.mark.parametrize(
    ("resource", "expression", "code"),
    [
        (
            {"status": "done", "subject": {"reference": "Patient/1"}},
            "Encounter.status",
            "invalid_code",
        ),
        ({"status": "planned"}, "Encounter.subject", "required"),
        (
            {"status": "planned", "subject": {"reference": "Practitioner/2"}},
            "Encounter.subject",
            "wrong_reference_type",
        ),
        (
            {"status": "planned", "subject": {"reference": "Patient/404"}},
            "Encounter.subject",
            "unknown_reference",
        ),
        (
            {
                "status": "planned",
                "subject": {"reference": "Patient/1"},
                "period": {"start": "yesterday"},
            },
            "Encounter.period.start",
            "bad_date",
        ),
    ],
)
def test_bad_encounters_point_at_the_element(
    resource: dict[str, object], expression: str, code: str
) -> None:
    found = error_of("Encounter", resource)
    assert (found.code, found.location) == (code, FhirLocation(expression))


def test_appointment_maps_participants_time_and_status() -> None:
    change = mapped(
        "Appointment",
        {
            "status": "booked",
            "identifier": [{"system": "urn:ehr", "value": "A-1"}],
            "start": "2026-12-03T10:00:00Z",
            "end": "2026-12-03T10:30:00Z",
            "participant": [
                {"actor": {"reference": "Patient/1"}, "status": "accepted"},
                {"actor": {"reference": "Practitioner/2"}, "status": "accepted"},
                {"actor": {"reference": "Location/3"}, "status": "accepted"},
            ],
        },
    )
    assert isinstance(change, UpsertAppointment)
    assert (change.source_system, change.filler_id, change.patient) == ("urn:ehr", "A-1", KEY)
    assert change.fields["status"] is AppointmentStatus.BOOKED
    assert change.fields["minutes"] == 30
    assert change.provider == ProviderRef(npi="1234567893")


def test_an_appointment_without_the_patient_is_refused() -> None:
    found = error_of(
        "Appointment",
        {"status": "booked", "participant": [{"actor": {"reference": "Practitioner/2"}}]},
    )
    assert found.location == FhirLocation("Appointment.participant")


CLAIM = {
    "status": "active",
    "identifier": [{"value": "PCN-1"}],
    "patient": {"reference": "Patient/1"},
    "insurer": {"reference": "Organization/4"},
    "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/6"}}],
    "provider": {"reference": "Practitioner/2"},
    "diagnosis": [
        {"sequence": 2, "diagnosisCodeableConcept": {"coding": [{"code": "J02.9"}]}},
        {"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"code": "R50.9"}]}},
    ],
    "item": [
        {
            "sequence": 1,
            "productOrService": {"coding": [{"code": "99213"}]},
            "servicedDate": "2026-12-01",
            "net": {"value": Decimal("125.10"), "currency": "USD"},
            "diagnosisSequence": [2],
            "encounter": [{"reference": "Encounter/5"}],
            "locationCodeableConcept": {"coding": [{"code": "11"}]},
        },
        {
            "sequence": 2,
            "productOrService": {"coding": [{"code": "87880"}]},
            "servicedDate": "2026-12-01",
            "unitPrice": {"value": Decimal("0.10")},
            "quantity": {"value": Decimal("3")},
        },
    ],
}


def test_a_claim_keeps_its_money_exact() -> None:
    change = mapped("Claim", CLAIM)
    assert isinstance(change, UpsertClaim)
    assert change.patient_control_number == "PCN-1"
    assert [line.amount for line in change.lines] == [Decimal("125.10"), Decimal("0.30")]
    assert change.diagnosis_codes == ("R50.9", "J02.9")
    assert (change.visit_number, change.coverage_priority) == ("V100", 1)
    assert change.payer == PayerRef("PAY01", "")
    assert change.rendering == ProviderRef(npi="1234567893")
    assert change.place_of_service == "11"
    assert not change.draft


def test_a_claim_item_without_a_price_is_refused_at_the_item() -> None:
    item = {
        "sequence": 1,
        "productOrService": {"coding": [{"code": "99213"}]},
        "servicedDate": "2026-12-01",
    }
    found = error_of("Claim", {**CLAIM, "item": [item]})
    assert found.location == FhirLocation("Claim.item[0].net")
