"""The pure SIU builder: the message parses back with the project's tokenizer, field by field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from hub.adapters.hl7v2.tokenizer import parse
from hub.errors import MappingError
from hub.mappings.pm_hl7v2 import (
    SiuAppointment,
    SiuEndpoint,
    SiuEvent,
    SiuLocation,
    SiuPatient,
    SiuProvider,
    build_siu,
)

NOW = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
APPT = SiuAppointment(
    filler_id="PM17",
    filler_authority="PM",
    placer_id="PL9",
    patient=SiuPatient(
        mrn="MRN|77^&",  # delimiters in data must be escaped, not split on
        assigning_authority="NORTHCLINIC",
        family_name="Testperson",
        given_name="Alex",
        birth_date=date(1980, 1, 2),
        sex="F",
    ),
    start=datetime(2026, 11, 23, 14, 30, tzinfo=UTC),
    minutes=45,
    type="FOLLOWUP",
    reason="knee & ankle ~ pain \\ check",
    provider=SiuProvider("1234567893", "Doctor", "Dana"),
    location=SiuLocation("ROOM2", "NORTHCLINIC", "Room 2"),
)
ENDPOINT = SiuEndpoint(receiving_application="EHRAPP", receiving_facility="NORTHCLINIC")


def test_s12_fields_parse_back() -> None:
    msg = parse(build_siu(SiuEvent.BOOK, APPT, ENDPOINT, now=NOW, control_id="CTL0001"))
    assert [s.name for s in msg.segments] == [
        "MSH", "SCH", "TQ1", "PID", "RGS", "AIS", "AIG", "AIL", "AIP",
    ]  # fmt: skip
    assert msg.type == "SIU^S12"
    assert msg.structure == "SIU_S12"
    assert msg.control_id == "CTL0001"
    assert msg.version == "2.5.1"
    assert msg.get("MSH-3") == "HUB"
    assert msg.get("MSH-5") == "EHRAPP"
    assert msg.get("MSH-6") == "NORTHCLINIC"
    assert msg.get("MSH-7") == "20261122160000+0000"
    assert msg.get("MSH-18") == "UNICODE UTF-8"
    assert msg.accept_ack_type == "" and msg.application_ack_type == ""  # original mode
    assert msg.get("SCH-1") == "PL9"
    assert msg.get("SCH-2") == "PM17"
    assert msg.get("SCH-2.2") == "PM"
    assert msg.get("SCH-7.2") == "knee & ankle ~ pain \\ check"
    assert msg.get("SCH-8") == "FOLLOWUP"
    assert msg.get("SCH-9") == "45"
    assert msg.get("SCH-11.3") == "M45"
    assert msg.get("SCH-11.4") == "20261123143000+0000"
    assert msg.get("SCH-11.5") == "20261123151500+0000"
    assert msg.get("SCH-25") == "Booked"
    assert msg.get("TQ1-6") == "45"
    assert msg.get("TQ1-7") == "20261123143000+0000"
    assert msg.get("TQ1-8") == "20261123151500+0000"
    assert msg.get("PID-3.1") == "MRN|77^&"
    assert msg.get("PID-3.4") == "NORTHCLINIC"
    assert msg.get("PID-3.5") == "MR"
    assert msg.get("PID-5.1") == "Testperson"
    assert msg.get("PID-5.2") == "Alex"
    assert msg.get("PID-7") == "19800102"
    assert msg.get("PID-8") == "F"
    assert msg.get("AIS-3") == "APPT"  # the service, not the type (SCH-8); issue 10 item 21
    assert msg.get("SCH-16") == "HUB" and msg.get("SCH-20") == "HUB"
    assert msg.get("AIS-4") == "20261123143000+0000"
    assert msg.get("AIS-7") == "45"
    assert msg.get("AIG-3") == "1234567893"
    assert msg.get("AIL-3.1") == "ROOM2"
    assert msg.get("AIL-3.4") == "NORTHCLINIC"
    assert msg.get("AIL-3.9") == "Room 2"
    assert msg.get("AIL-6") == "20261123143000+0000"
    assert msg.get("AIP-3.1") == "1234567893"
    assert msg.get("AIP-3.2") == "Doctor"
    assert msg.get("AIP-6") == "20261123143000+0000"


def test_s13_and_s15_statuses() -> None:
    s13 = parse(build_siu(SiuEvent.RESCHEDULE, APPT, ENDPOINT, now=NOW, control_id="C2"))
    s15 = parse(build_siu(SiuEvent.CANCEL, APPT, ENDPOINT, now=NOW, control_id="C3"))
    assert s13.type == "SIU^S13" and s13.get("SCH-25") == "Booked"
    assert s15.type == "SIU^S15" and s15.get("SCH-25") == "Cancelled"
    assert s13.structure == s15.structure == "SIU_S12"  # v2.5.1 message structure table


def test_minimal_appointment_has_no_optional_resources() -> None:
    bare = replace(APPT, provider=None, location=None, type="", reason="", placer_id="")
    msg = parse(build_siu(SiuEvent.BOOK, bare, ENDPOINT, now=NOW, control_id="C4"))
    assert [s.name for s in msg.segments] == ["MSH", "SCH", "TQ1", "PID", "RGS", "AIS"]
    assert msg.get("SCH-1") == ""
    assert msg.get("SCH-2") == "PM17"


def test_times_in_the_destination_zone() -> None:
    ny = replace(ENDPOINT, tz=ZoneInfo("America/New_York"))
    msg = parse(build_siu(SiuEvent.BOOK, APPT, ny, now=NOW, control_id="C5"))
    assert msg.get("TQ1-7") == "20261123093000-0500"  # same instant, local wall time


def test_segments_end_in_cr_and_build_is_deterministic() -> None:
    one = build_siu(SiuEvent.BOOK, APPT, ENDPOINT, now=NOW, control_id="C6")
    two = build_siu(SiuEvent.BOOK, APPT, ENDPOINT, now=NOW, control_id="C6")
    assert one == two
    assert one.endswith(b"\r") and b"\n" not in one


@pytest.mark.parametrize(
    ("appt", "control_id", "code"),
    [
        (replace(APPT, filler_id=""), "C7", "missing_filler_id"),
        (APPT, "", "bad_control_id"),
        (APPT, "X" * 21, "bad_control_id"),
        (replace(APPT, start=datetime(2026, 11, 23, 9, 0)), "C8", "naive_datetime"),
    ],
)
def test_bad_input_is_a_mapping_error(appt: SiuAppointment, control_id: str, code: str) -> None:
    with pytest.raises(MappingError) as err:
        build_siu(SiuEvent.BOOK, appt, ENDPOINT, now=NOW, control_id=control_id)
    assert err.value.code == code
    assert "Testperson" not in str(err.value) and "MRN" not in str(err.value)
