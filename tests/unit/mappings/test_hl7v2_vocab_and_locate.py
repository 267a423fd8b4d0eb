"""HL7 tables into the PM's neutral vocabularies and back; the HL7 location put on a PM error."""

from __future__ import annotations

import pytest

from hub.errors import Conflict, MappingError, ValidationError
from hub.mappings.hl7v2_pm import locate
from hub.mappings.hl7v2_vocab import class_from_0004, gender_from_0001, gender_to_0001
from hub.pm.changes import ChangeIdentifier, UpsertAppointment, UpsertEncounter, UpsertPatient
from hub.pm.enums import AdministrativeGender, EncounterClass
from hub.pm.keys import Identifier, PatientKey

KEY = PatientKey("NORTH", "MRN1")


@pytest.mark.parametrize(
    ("code", "gender", "back"),
    [
        ("F", AdministrativeGender.FEMALE, "F"),
        ("m", AdministrativeGender.MALE, "M"),
        ("O", AdministrativeGender.OTHER, "O"),
        ("A", AdministrativeGender.OTHER, "O"),
        ("N", AdministrativeGender.OTHER, "O"),
        ("U", AdministrativeGender.UNKNOWN, "U"),
    ],
)
def test_sex_codes_become_genders_and_back(
    code: str, gender: AdministrativeGender, back: str
) -> None:
    assert gender_from_0001(code) is gender
    assert gender_to_0001(gender.value) == back


def test_unknown_sex_code_and_legacy_stored_values() -> None:
    assert gender_from_0001("X") is None
    assert gender_to_0001("F") == "F"  # a row stored before the neutral vocabulary
    assert gender_to_0001(None) == "" and gender_to_0001("nonsense") == ""


def test_patient_class_codes_become_encounter_classes() -> None:
    assert class_from_0004("O") is EncounterClass.OUTPATIENT
    assert class_from_0004("i") is EncounterClass.INPATIENT
    assert class_from_0004("Z") is EncounterClass.UNKNOWN  # table 0004 is user-defined


@pytest.mark.parametrize(
    ("change", "error", "path"),
    [
        (UpsertEncounter(KEY, "V1", must_exist=True), ValidationError, "PV1-19"),
        (UpsertAppointment("EHR", "A1", KEY, must_exist=True), ValidationError, "SCH-2"),
        (ChangeIdentifier(KEY, Identifier("MRN2")), ValidationError, "MRG-1"),
        (UpsertEncounter(KEY, "V1"), MappingError, "PID-3"),
    ],
)
def test_a_pm_error_gets_the_location_of_the_key_that_failed(
    change: object, error: type[ValidationError], path: str
) -> None:
    exc = error("not known", code="unknown_key")
    located = locate(change, exc)  # type: ignore[arg-type]
    assert type(located) is error and located.code == "unknown_key"
    assert located.location is not None and located.location.path == path


def test_errors_without_a_known_place_stay_as_they_are() -> None:
    duplicate = ValidationError("in use", code="duplicate_key")
    assert locate(ChangeIdentifier(KEY, Identifier("MRN2")), duplicate).location is not None
    other = Conflict("no", code="illegal_transition")
    assert locate(UpsertPatient(KEY), other) is other
