"""HL7 v2 tables <-> the PM's neutral vocabularies (:mod:`hub.pm.enums`), both directions.

Pure data and lookups, no parsing: used by the inbound mappings (ADT, SIU, DFT) and by the
outbound SIU builder. The sex mapping follows HL7's published v2 table 0001 to FHIR
AdministrativeGender concept map (A ambiguous and N not applicable become ``other``).
"""

from __future__ import annotations

from hub.pm.enums import AdministrativeGender, EncounterClass

# HL7 table 0001 (administrative sex)
SEX_0001: dict[str, AdministrativeGender] = {
    "F": AdministrativeGender.FEMALE,
    "M": AdministrativeGender.MALE,
    "O": AdministrativeGender.OTHER,
    "U": AdministrativeGender.UNKNOWN,
    "A": AdministrativeGender.OTHER,
    "N": AdministrativeGender.OTHER,
}
GENDER_TO_0001: dict[AdministrativeGender, str] = {
    AdministrativeGender.FEMALE: "F",
    AdministrativeGender.MALE: "M",
    AdministrativeGender.OTHER: "O",
    AdministrativeGender.UNKNOWN: "U",
}

# HL7 table 0004 (patient class); a user-defined table, so a code outside it is ``unknown``
CLASS_0004: dict[str, EncounterClass] = {
    "I": EncounterClass.INPATIENT,
    "O": EncounterClass.OUTPATIENT,
    "E": EncounterClass.EMERGENCY,
    "P": EncounterClass.PREADMISSION,
    "R": EncounterClass.RECURRING,
    "B": EncounterClass.OBSTETRICS,
    "C": EncounterClass.COMMERCIAL,
    "N": EncounterClass.NOT_APPLICABLE,
    "U": EncounterClass.UNKNOWN,
}


def gender_from_0001(code: str) -> AdministrativeGender | None:
    """The gender for a table 0001 code (any case); None when the code is not in the table."""
    return SEX_0001.get(code.upper())


def gender_to_0001(value: str | None) -> str:
    """The table 0001 code for a stored gender; empty when none is stored."""
    if not value:
        return ""
    try:
        return GENDER_TO_0001[AdministrativeGender(value)]
    except ValueError:
        return value if value in SEX_0001 else ""  # a row stored before the neutral vocabulary


def class_from_0004(code: str) -> EncounterClass:
    return CLASS_0004.get(code.upper(), EncounterClass.UNKNOWN)
