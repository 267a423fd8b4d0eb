"""FHIR Patient, Practitioner, Organization and Location -> PM changes (pure, no I/O)."""

from __future__ import annotations

from datetime import date

import pytest
from fhir_fakes import DictResolver

from hub.errors import FhirLocation, HubError
from hub.mappings.fhir_pm import Target, lane_keys, map_resource
from hub.pm.changes import (
    CLEAR,
    Identifier,
    UpsertLocation,
    UpsertOrganization,
    UpsertPatient,
    UpsertProvider,
)
from hub.pm.enums import AdministrativeGender
from hub.pm.keys import LocationRef, OrganizationKey, PatientKey, ProviderRef

MRN = {"system": "urn:hub:mrn:NORTHCLINIC", "value": "MRN-77"}
PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": "999-00-1234"}, MRN],
    "name": [
        {"use": "official", "family": "Testperson", "given": ["Ana", "Maria"], "prefix": ["Ms"]}
    ],
    "gender": "female",
    "birthDate": "1980-04-02",
    "address": [{"line": ["1 Synthetic Way"], "city": "Springfield", "postalCode": "00000"}],
    "telecom": [{"system": "phone", "use": "home", "value": "555-0100"}],
}


def one(target: Target, resource: dict[str, object], resolver: DictResolver | None = None):  # type: ignore[no-untyped-def]
    mapped = map_resource(resource, target, resolver or DictResolver())
    assert len(mapped.changes) == 1
    return mapped.changes[0]


def test_a_patient_with_an_mrn_is_keyed_like_the_hl7_patient_of_that_facility() -> None:
    change = one(Target("Patient", "m1"), PATIENT)
    assert isinstance(change, UpsertPatient)
    assert change.key == PatientKey("NORTHCLINIC", "MRN-77")
    assert Identifier("MRN-77", "NORTHCLINIC", "MR") in change.identifiers  # as HL7 PID-3
    assert change.fields["family_name"] == "Testperson"
    assert change.fields["given_name"] == "Ana"
    assert change.fields["middle_name"] == "Maria"
    assert change.fields["prefix"] == "Ms"
    assert change.fields["birth_date"] == date(1980, 4, 2)
    assert change.fields["sex"] is AdministrativeGender.FEMALE
    assert change.fields["address"] == {
        "line": ["1 Synthetic Way"],
        "city": "Springfield",
        "postal_code": "00000",
    }
    assert change.fields["suffix"] is CLEAR  # an update replaces: absent clears


def test_patient_lanes_are_the_hl7_lane_and_one_per_identifier() -> None:
    lanes = lane_keys(PATIENT, Target("Patient", "m1"), DictResolver())
    assert lanes[0] == "NORTHCLINIC/MRN-77"
    assert "fhir-identifier:Patient|urn:hub:mrn:NORTHCLINIC|MRN-77" in lanes


def test_an_update_keeps_the_key_of_the_row_it_replaces() -> None:
    resolver = DictResolver(patients={"Patient/4": PatientKey("EHR", "A1")})
    change = one(Target("Patient", "x", existing="Patient/4"), PATIENT, resolver)
    assert isinstance(change, UpsertPatient)
    assert change.key == PatientKey("EHR", "A1")


def test_a_patient_without_identifiers_gets_the_minted_key() -> None:
    change = one(Target("Patient", "abc"), {"resourceType": "Patient"})
    assert isinstance(change, UpsertPatient)
    assert change.key == PatientKey("fhir", "abc")
    assert change.fields["active"] == 1


@pytest.mark.parametrize(
    ("patch", "expression", "code"),
    [
        ({"gender": "f"}, "Patient.gender", "invalid_code"),
        ({"birthDate": "1980-13-45"}, "Patient.birthDate", "bad_date"),
    ],
)
def test_bad_patient_values_point_at_the_element(
    patch: dict[str, object], expression: str, code: str
) -> None:
    with pytest.raises(HubError) as caught:
        one(Target("Patient", "m"), {**PATIENT, **patch})
    assert caught.value.code == code
    assert caught.value.location == FhirLocation(expression)


def test_a_practitioner_with_an_npi_is_the_provider_hl7_names_by_npi() -> None:
    change = one(
        Target("Practitioner", "m"),
        {
            "resourceType": "Practitioner",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
            "name": [{"family": "Doctor", "given": ["Dana"]}],
        },
    )
    assert change == UpsertProvider(
        ProviderRef(npi="1234567893", family_name="Doctor", given_name="Dana")
    )


def test_a_bad_npi_is_refused_at_its_identifier() -> None:
    with pytest.raises(HubError) as caught:
        one(
            Target("Practitioner", "m"),
            {
                "resourceType": "Practitioner",
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567890"}],
            },
        )
    assert caught.value.location == FhirLocation("Practitioner.identifier[0].value")


def test_an_organization_of_type_pay_is_a_payer_keyed_by_its_code() -> None:
    change = one(
        Target("Organization", "m"),
        {
            "resourceType": "Organization",
            "identifier": [
                {"system": "urn:oid:2.16.840.1.113883.4.4", "value": "12-3456789"},
                {"system": "urn:payer", "value": "PAY01"},
            ],
            "type": [{"coding": [{"code": "pay"}]}],
            "name": "Synthetic Health Plan",
        },
    )
    assert isinstance(change, UpsertOrganization)
    assert (change.kind, change.local_id) == ("payer", "PAY01")
    assert change.fields["tax_id"] == "12-3456789"
    assert change.fields["name"] == "Synthetic Health Plan"


def test_an_organization_update_keeps_its_key() -> None:
    resolver = DictResolver(organizations={"Organization/3": OrganizationKey("payer", "P9")})
    change = one(
        Target("Organization", "m", existing="Organization/3"),
        {"resourceType": "Organization", "name": "Renamed"},
        resolver,
    )
    assert isinstance(change, UpsertOrganization)
    assert (change.kind, change.local_id) == ("payer", "P9")


def test_a_location_is_keyed_by_its_identifier() -> None:
    change = one(
        Target("Location", "m"),
        {
            "resourceType": "Location",
            "identifier": [{"system": "NORTHCLINIC", "value": "ROOM1"}],
            "name": "Room 1",
        },
    )
    assert change == UpsertLocation(LocationRef("NORTHCLINIC", "ROOM1", "Room 1"))
