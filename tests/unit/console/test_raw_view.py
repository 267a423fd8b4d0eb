"""Raw content for people: HL7 fields named and an error's field marked; X12 split on the
terminator its own ISA declares; FHIR JSON and XML pretty-printed; what cannot be read is shown
as text with the reason; hostile input costs linear time."""

from __future__ import annotations

import json

import pytest
from support.hl7_messages import adt

from hub.errors import FhirLocation, Hl7Location, LineLocation, X12Location
from hub.protocols.hl7v2.raw_view import Hl7RawRenderer
from hub.services.raw_view import (
    MAX_RENDERED_BYTES,
    PlainText,
    PrettyDocument,
    RawRenderers,
    X12Segments,
    hl7_location,
    where_of,
    x12_location,
)


def isa(element: str = "*", component: str = ":", terminator: str = "~") -> str:
    fields = [
        "ISA", "00", " " * 10, "00", " " * 10, "ZZ", "SENDER".ljust(15), "ZZ",
        "RECEIVER".ljust(15), "260105", "0830", "^", "00501", "000000001", "0", "P", component,
    ]  # fmt: skip
    head = element.join(fields)
    assert len(head) == 105
    return head + terminator


def x12(terminator: str = "~", element: str = "*", newline: str = "") -> bytes:
    segs = [
        "GS*HC*SENDER*RECEIVER*20260105*0830*1*X*005010X222A1",
        "ST*837*0001*005010X222A1",
        "BHT*0019*00*1*20260105*0830*CH",
        "CLM*PATIENT1*100***11:B:1*Y*A*Y*Y",
        "SE*4*0001",
        "GE*1*1",
        "IEA*1*000000001",
    ]
    body = (terminator + newline).join(s.replace("*", element) for s in segs)
    return (isa(element, ":", terminator) + newline + body + terminator).encode()


def test_where_an_error_text_points() -> None:
    assert where_of("[data_type] impossible date/time at PID-7") == "PID-7"
    assert where_of("no location here") is None
    assert hl7_location("PID-3[2].1") == Hl7Location("PID", field=3, repetition=2, component=1)
    assert hl7_location("FT1[2]-4") == Hl7Location("FT1", sequence=2, field=4)
    assert hl7_location("PID") == Hl7Location("PID")
    assert hl7_location("not a place") is None
    assert x12_location("CLM05-3 (loop 2300, segment 12)") == X12Location(
        "CLM", segment_position=12, loop_id="2300", element_position=5, component=3
    )


def test_hl7_fields_are_named_and_the_error_field_marked() -> None:
    raw = adt("C1", trigger="A04", dob="19801345")
    view = Hl7RawRenderer().render(raw, [Hl7Location("PID", field=7)])
    assert view.kind == "segments"
    assert [line.head for line in view.lines] == ["MSH", "EVN", "PID", "PV1"]
    pid = view.lines[2]
    marked = [(p.label, p.name, p.text) for p in pid.parts if p.highlight]
    assert marked == [("PID-7", "Date/Time of Birth", "19801345")]
    msh = view.lines[0]
    assert (msh.parts[0].label, msh.parts[0].text) == ("MSH-2", "^~\\&")
    assert (msh.parts[7].label, msh.parts[7].name) == ("MSH-9", "Message Type")
    assert ("message type", "ADT^A04") in view.structure
    assert view.unplaced == ()


def test_hl7_second_occurrence_and_missing_segment() -> None:
    raw = adt("C1", trigger="A04", extra=["NK1|1|A", "NK1|2|B"])
    view = Hl7RawRenderer().render(
        raw, [Hl7Location("NK1", sequence=2, field=2), Hl7Location("ZZZ")]
    )
    nk1 = [line for line in view.lines if line.head == "NK1"]
    assert [p.highlight for p in nk1[0].parts] == [False, False]
    assert [p.highlight for p in nk1[1].parts] == [False, True]
    assert view.unplaced == ("ZZZ",)


def test_unparseable_hl7_is_shown_as_text_with_the_reason() -> None:
    view = Hl7RawRenderer().render(b"MSH|^~\\&|A\rP!D|1\r", [])
    assert view.kind == "text"
    assert "line 2 is not an HL7 segment" in view.note
    assert [line.highlight for line in view.lines] == [False, True]


@pytest.mark.parametrize(("terminator", "newline"), [("~", ""), ("~", "\r\n"), ("!", "\n")])
def test_x12_segments_split_on_the_isa_terminator(terminator: str, newline: str) -> None:
    view = X12Segments().render(x12(terminator, newline=newline), [X12Location("CLM", 3, None, 5)])
    heads = [line.head for line in view.lines]
    assert heads == ["ISA", "GS", "ST", "BHT", "CLM", "SE", "GE", "IEA"]
    clm = view.lines[4]
    assert clm.highlight
    assert [p.label for p in clm.parts if p.highlight] == ["CLM05"]
    assert clm.parts[4].text == "11:B:1"


def test_x12_other_element_separator() -> None:
    view = X12Segments().render(x12("~", element="|"), [])
    assert view.lines[2].parts[0].label == "ST01"
    assert view.lines[2].parts[0].text == "837"


def test_x12_without_a_usable_isa_is_text() -> None:
    assert "no ISA" in X12Segments().render(b"GS*HC~ST*837~", []).note


def test_fhir_json_is_pretty_and_the_expression_marked() -> None:
    body = {"resourceType": "Patient", "birthDate": "1980-13-45", "name": [{"family": "X"}]}
    view = PrettyDocument().render(json.dumps(body).encode(), [FhirLocation("Patient.birthDate")])
    assert view.kind == "pretty"
    marked = [line.text for line in view.lines if line.highlight]
    assert marked == ['  "birthDate": "1980-13-45",']


def test_fhir_xml_is_pretty() -> None:
    xml = b'<Patient xmlns="http://hl7.org/fhir"><birthDate value="1980-13-45"/></Patient>'
    view = PrettyDocument().render(xml, [FhirLocation("Patient.birthDate")])
    assert [line.text.strip() for line in view.lines if line.highlight] == [
        '<birthDate value="1980-13-45"/>'
    ]


def test_malformed_json_is_text_with_the_reason() -> None:
    view = PrettyDocument().render(b'{"resourceType": ', [LineLocation(1)])
    assert view.kind == "text"
    assert view.note.startswith("not well-formed")
    assert view.lines[0].highlight


def test_renderers_by_protocol_then_by_shape() -> None:
    renderers = RawRenderers()
    renderers.register("hl7v2", Hl7RawRenderer())
    assert isinstance(renderers.for_message("hl7v2", b"MSH|"), Hl7RawRenderer)
    assert isinstance(renderers.for_message("x12", x12()), X12Segments)
    assert isinstance(renderers.for_message("fhir", b' {"a": 1}'), PrettyDocument)
    assert isinstance(renderers.for_message("other", b"hello"), PlainText)
    view = renderers.render("hl7v2", adt("C1", dob="1"), ["[data_type] bad at PID-7"])
    assert view.located == ("PID-7",)


def test_hostile_sizes_are_bounded() -> None:
    renderers = RawRenderers()
    renderers.register("hl7v2", Hl7RawRenderer())
    many = adt("C1", extra=["NTE|1||" + "|" * 100_000])
    view = renderers.render("hl7v2", many, ["x at NTE-9999"])
    nte = view.lines[-1]
    assert len(nte.parts) == 100_003  # NTE-1, NTE-2, then 100,001 empty fields
    assert [p.label for p in nte.parts if p.highlight] == ["NTE-9999"]
    huge = adt("C1") + b"NTE|1||" + b"x" * (MAX_RENDERED_BYTES + 1)
    shown = renderers.render("hl7v2", huge, [])
    assert shown.kind == "text" and "not split" in shown.note
