"""HL7 v2 -> PM change mappings on small synthetic messages (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hub.adapters.hl7v2.tokenizer import parse
from hub.errors import UnsupportedError, ValidationError
from hub.mappings.hl7v2_pm import SUPPORTED_TYPES, map_message
from hub.pm.changes import (
    CLEAR,
    AddCharge,
    ChangeIdentifier,
    MergePatients,
    PatientKey,
    UpsertAppointment,
    UpsertCoverage,
    UpsertEncounter,
    UpsertPatient,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MSH = "MSH|^~\\&|EHR|CLINIC|HUB|PM|20260301120000||{type}|C1|P|{ver}"


def seg(name: str, fields: dict[int, str]) -> str:
    return "|".join([name, *(fields.get(i, "") for i in range(1, max(fields) + 1))])


def msg(type_: str, *segments: str, ver: str = "2.5.1") -> list:  # type: ignore[type-arg]
    return map_message(parse("\r".join([MSH.format(type=type_, ver=ver), *segments])), now=NOW)


def test_register_maps_patient_encounter_and_coverages_in_priority_order() -> None:
    changes = msg(
        "ADT^A04",
        "PID|1||M1^^^CLINIC^MR~555^^^SSA^SS||DOE^JANE^Q||19800102|F|||1 MAIN ST^^TOWN^OR^97000"
        "||^PRN^PH^^1^503^5550100",
        "PV1|1|O|EXAM^2||||1234567893^WELBY^MARCUS^^^^^^^^^^NPI||||||||||||V9|||||||||||||||||||||||||"
        "20260301083000-0500",
        "IN1|2|P2|PAY2|SECOND PAYER|||||||||||||SPO",
        seg(
            "IN1",
            {
                1: "1",
                2: "P1",
                3: "PAY1",
                4: "FIRST PAYER",
                8: "G1",
                12: "20260101",
                17: "MTH",
                18: "19550505",
                36: "MEM1",
            },
        ),
    )
    patient = changes[0]
    assert isinstance(patient, UpsertPatient)
    assert patient.key == PatientKey("CLINIC", "M1")
    assert [i.type_code for i in patient.identifiers] == ["MR", "SS"]
    assert patient.fields["birth_date"] == date(1980, 1, 2)
    assert patient.fields["telecom"] == [
        {"system": "phone", "use": "home", "value": "(503)555-0100"}
    ]
    encounter = changes[1]
    assert isinstance(encounter, UpsertEncounter)
    assert encounter.fields["admit_at"] == datetime(2026, 3, 1, 13, 30, tzinfo=UTC)
    assert encounter.attending is not None and encounter.attending.npi == "1234567893"
    coverages = [c for c in changes if isinstance(c, UpsertCoverage)]
    assert [c.priority for c in coverages] == [1, 2]
    assert coverages[0].fields["member_id"] == "MEM1"
    assert coverages[0].fields["relationship"] == "child"  # the insured is the mother
    assert coverages[1].fields["relationship"] == "spouse"


def test_update_leaves_absent_fields_out_and_clears_explicit_nulls() -> None:
    changes = msg("ADT^A08", seg("PID", {3: "M1^^^CLINIC^MR", 5: 'DOE^JANE^""', 11: '""'}))
    fields = changes[0].fields
    assert fields["middle_name"] is CLEAR and fields["address"] is CLEAR
    assert "birth_date" not in fields and "sex" not in fields and "telecom" not in fields


def test_local_time_is_read_in_the_practice_zone() -> None:
    raw = "\r".join(
        [
            MSH.format(type="ADT^A01", ver="2.3"),
            "PID|1||M1||X^Y",
            "PV1|1|I|||||||||||||||||V1|||||||||||||||||||||||||20260301083000",
        ]
    )
    changes = map_message(parse(raw), now=NOW, tz=ZoneInfo("America/Los_Angeles"))
    assert changes[1].fields["admit_at"] == datetime(2026, 3, 1, 16, 30, tzinfo=UTC)


def test_discharge_cancel_admit_and_cancel_discharge() -> None:
    a03 = msg("ADT^A03", "EVN|A03|20260301100000+0000", "PID|1||M1", "PV1|1|I|||||||||||||||||V1")
    assert a03[1].fields["status"] == "finished"
    assert a03[1].fields["discharge_at"] == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    a11 = msg("ADT^A11", "PID|1||M1", "PV1|1|I|||||||||||||||||V1")
    assert a11[1].must_exist and a11[1].fields == {"status": "cancelled"}
    a13 = msg("ADT^A13", "PID|1||M1", "PV1|1|I|||||||||||||||||V1")
    assert a13[1].fields == {"status": "in-progress", "discharge_at": CLEAR}


def test_merge_and_identifier_change() -> None:
    a40 = msg("ADT^A40", "PID|1||KEEP^^^C^MR", "MRG|GONE^^^C^MR")
    assert a40[1] == MergePatients(PatientKey("CLINIC", "KEEP"), PatientKey("CLINIC", "GONE"))
    a47 = msg("ADT^A47", "PID|1||NEW^^^C^MR", "MRG|OLD^^^C^MR")
    assert isinstance(a47[0], ChangeIdentifier) and a47[0].new.value == "NEW"
    with pytest.raises(ValidationError) as err:
        msg("ADT^A40", "PID|1||KEEP^^^C^MR")
    assert err.value.code == "required_field_missing" and str(err.value.location) == "MRG-1"


def test_siu_book_uses_ais_start_and_duration_and_cancel_is_status_only() -> None:
    s12 = msg(
        "SIU^S12",
        "SCH|P1|F1||||N|^CHECKUP|ROUTINE|||||||||||||||||Booked",
        "TQ1|1||||||20260305090000+0000|20260305093000+0000",
        "PID|1||M1",
        "AIS|1||X|20260305090000+0000|||20|min",
        "AIP|1||77^HOUSE^GREG",
        "AIL|1||MAIN^ROOM1",
    )
    appt = s12[-1]
    assert isinstance(appt, UpsertAppointment) and appt.filler_id == "F1"
    assert appt.fields["start"] == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert appt.fields["minutes"] == 20 and appt.fields["status"] == "booked"
    assert appt.provider is not None and appt.provider.local_id == "77"
    assert not appt.must_exist
    s15 = msg("SIU^S15", "SCH|P1|F1")
    assert s15[-1].fields == {"status": "cancelled"} and s15[-1].must_exist


def test_siu_v23_timing_from_sch11() -> None:
    s12 = msg("SIU^S12", seg("SCH", {1: "P1", 2: "F1", 11: "^^M45^20260305090000+0100"}), ver="2.3")
    assert s12[-1].fields["start"] == datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
    assert s12[-1].fields["minutes"] == 45


def test_dft_charges_with_dg1_priority_and_unit_amount() -> None:
    changes = msg(
        "DFT^P03",
        "PID|1||M1",
        "PV1|1|O|||||||||||||||||V1",
        "FT1|1|T1||20260301||CG|99213^OV^C4|||2||40.00||||||||||||||25~59",
        "DG1|1||B^^I10||||||||||||2",
        "DG1|2||A^^I10||||||||||||1",
    )
    charge = changes[1]
    assert isinstance(charge, AddCharge)
    assert (charge.code, charge.units, charge.amount) == ("99213", Decimal(2), Decimal("80.00"))
    assert charge.modifiers == ("25", "59") and charge.diagnosis_codes == ("A", "B")
    assert charge.transaction_id == "T1" and charge.visit_number == "V1"


@pytest.mark.parametrize(
    ("segments", "code", "where"),
    [
        (("PID|1||M1", "FT1|1|T1||||CG|99213|||1|10"), "required_field_missing", "FT1-4"),
        (("PID|1||M1", "FT1|1|T1||2026130||CG|99213|||1|10"), "data_type", "FT1-4"),
        (("PID|1||M1", "FT1|1|T1||20260301||CG|99213|||1"), "required_field_missing", "FT1-11"),
        (("PID|1", "FT1|1|T1||20260301||CG|99213|||1|10"), "required_field_missing", "PID-3"),
    ],
)
def test_dft_errors_name_location_and_code(
    segments: tuple[str, ...], code: str, where: str
) -> None:
    with pytest.raises(ValidationError) as err:
        msg("DFT^P03", *segments)
    assert err.value.code == code and str(err.value.location) == where


def test_unknown_sex_and_unsupported_trigger() -> None:
    with pytest.raises(ValidationError) as err:
        msg("ADT^A04", "PID|1||M1||X^Y||19800101|Q")
    assert err.value.code == "table_value"
    with pytest.raises(UnsupportedError):
        msg("ADT^A99", "PID|1||M1")
    assert "ADT^A01" in SUPPORTED_TYPES and "ADT^A99" not in SUPPORTED_TYPES
