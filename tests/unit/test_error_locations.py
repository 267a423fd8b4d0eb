"""One location type, rendered in each protocol's own notation (hub/errors.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.adapters.hl7v2.ack import build_ack, parse_ack
from hub.adapters.hl7v2.errors import error_for
from hub.adapters.hl7v2.tokenizer import parse
from hub.errors import FhirLocation, Hl7Location, LineLocation, Location, X12Location

NOW = datetime(2024, 1, 1, tzinfo=UTC)
MSG = "MSH|^~\\&|EHR|CLINIC|HUB|PR|20240101||ADT^A01|C1|P|2.5\rPID|1\r"


@pytest.mark.parametrize(
    ("where", "text"),
    [
        (Hl7Location("PID"), "PID"),
        (Hl7Location("PID", field=3), "PID-3"),
        (Hl7Location("SCH", field=11, component=4), "SCH-11.4"),
        (Hl7Location("SCH", field=11, component=4, subcomponent=2), "SCH-11.4.2"),
        (Hl7Location("FT1", sequence=2, field=4), "FT1[2]-4"),
        (Hl7Location("PID", field=3, repetition=2, component=1), "PID-3[2].1"),
        (Hl7Location("AIS", sequence=2, field=4, sequence_in_text=False), "AIS-4"),
        (X12Location("CLM"), "CLM"),
        (X12Location("CLM", 12, "2300", 5, 3), "CLM05-3 (loop 2300, segment 12)"),
        (X12Location("NM1", segment_position=4, element_position=9), "NM109 (segment 4)"),
        (FhirLocation("Patient.identifier[0].value"), "Patient.identifier[0].value"),
        (LineLocation(7), "line 7"),
    ],
)
def test_each_protocol_notation(where: Location, text: str) -> None:
    assert str(where) == text
    assert where.path == text


def test_hl7_location_goes_to_err_2_and_back() -> None:
    where = Hl7Location("PID", sequence=1, field=3, repetition=2, component=4)
    ack = build_ack(parse(MSG), [error_for(101, "missing", where)], control_id="A1", now=NOW)
    assert ack is not None
    err = next(s for s in ack.split(b"\r") if s.startswith(b"ERR"))
    assert err.split(b"|")[2] == b"PID^1^3^2^4"
    assert parse_ack(ack).errors[0].location == where


@pytest.mark.parametrize("where", [FhirLocation("Patient.name"), X12Location("CLM"), None])
def test_a_foreign_location_leaves_err_2_empty(where: Location | None) -> None:
    ack = build_ack(parse(MSG), [error_for(101, "missing", where)], control_id="A1", now=NOW)
    assert ack is not None
    err = next(s for s in ack.split(b"\r") if s.startswith(b"ERR"))
    assert err.split(b"|")[2] == b""
