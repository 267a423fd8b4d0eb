"""The FHIR codec: JSON and XML forms of one resource, exact decimals, the specification's XML
rules, and hostile input (entity bombs, external entities, deep nesting) refused with a clear
error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from hub.adapters.fhir import formats, models
from hub.adapters.fhir.negotiation import Format, request_format, response_format
from hub.errors import FhirLocation, HubError, ParseError, UnsupportedError, ValidationError

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {"versionId": "3", "lastUpdated": "2026-01-02T03:04:05Z"},
    "text": {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Rowan &amp; <b>co</b></p></div>',
    },
    "contained": [{"resourceType": "Organization", "id": "o1", "name": "Synthetic"}],
    "extension": [{"url": "http://example.test/x", "valueDecimal": Decimal("1.50")}],
    "identifier": [
        {"system": "urn:hub:mrn:NORTH", "value": "M1"},
        {"system": "urn:oid:2.16.840.1", "value": "X2"},
    ],
    "active": True,
    "name": [
        {
            "family": "Testperson",
            "given": ["Alpha", "Beta"],
            "_given": [None, {"extension": [{"url": "http://example.test/y", "valueString": "z"}]}],
        }
    ],
    "gender": "female",
    "birthDate": "1980-02-14",
    "_birthDate": {"id": "bd"},
    "multipleBirthInteger": 2,
}

XML_PATIENT = (
    b'<Patient xmlns="http://hl7.org/fhir"><id value="x"/>'
    b'<name><family value="Doe"/><given value="A"/><given value="B"/></name>'
    b'<active value="false"/></Patient>'
)


def test_json_round_trip_keeps_decimals_exact() -> None:
    raw = b'{"resourceType":"Claim","total":{"value":12.10,"currency":"USD"},"x":[100,0.000]}'
    parsed = formats.parse_json(raw)
    assert parsed["total"]["value"] == Decimal("12.10")
    assert str(parsed["total"]["value"]) == "12.10"
    assert formats.dump_json(parsed) == raw
    # an exponent is kept as a number of the same value (JSON allows either spelling)
    assert formats.parse_json(formats.dump_json(formats.parse_json(b'{"v":1e2}'))) == {"v": 100}


def test_xml_round_trip_of_every_kind_of_element() -> None:
    xml = formats.dump_xml(PATIENT)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<Patient")
    back = formats.parse_xml(xml)
    assert back == PATIENT
    assert formats.dump_xml(back) == xml
    # the specification's XML: value attributes, repetition, the resource wrapper, XHTML div,
    # an element's id as attribute, an Extension's url as attribute
    for piece in (
        b'<birthDate id="bd" value="1980-02-14"/>',
        b'<given value="Alpha"/><given value="Beta">',
        b'<contained><Organization><id value="o1"/>',
        b'<div xmlns="http://www.w3.org/1999/xhtml"><p>Rowan &amp; <b>co</b></p></div>',
        b'<extension url="http://example.test/x"><valueDecimal value="1.50"/></extension>',
        b'<active value="true"/>',
        b'<multipleBirthInteger value="2"/>',
    ):
        assert piece in xml, piece


def test_xml_element_order_follows_the_specification() -> None:
    shuffled = dict(reversed(list(PATIENT.items())))
    assert formats.dump_xml(shuffled) == formats.dump_xml(PATIENT)


def test_xml_reads_into_json_types() -> None:
    parsed = formats.parse_xml(XML_PATIENT)
    assert parsed == {
        "resourceType": "Patient",
        "id": "x",
        "name": [{"family": "Doe", "given": ["A", "B"]}],
        "active": False,
    }
    assert models.validate(parsed) == []


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Patient xmlns="http://hl7.org/fhir"><id value="&lol3;"/></Patient>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Patient xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Patient>"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<Patient xmlns="http://hl7.org/fhir"/>"""


@pytest.mark.parametrize("raw", [BOMB, EXTERNAL, PARAMETER_ENTITY, BOMB.decode().encode("utf-16")])
def test_dtds_entity_bombs_and_external_entities_are_refused(raw: bytes) -> None:
    with pytest.raises(ParseError) as err:
        formats.parse_xml(raw)
    assert err.value.code == "xml_dtd"


@pytest.mark.parametrize(
    ("raw", "code", "where"),
    [
        (b"<Patient", "parse", None),
        (b'<Patient xmlns="urn:other"/>', "parse", None),
        (b'<Unicorn xmlns="http://hl7.org/fhir"/>', "unknown_type", "Unicorn"),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><shoeSize value="9"/></Patient>',
            "unknown_element",
            "Patient.shoeSize",
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>',
            "invalid",
            "Patient.active",
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir">'
            b'<gender value="female"/><gender value="male"/></Patient>',
            "invalid",
            "Patient.gender",
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir">'
            b'<name><family bogus="1" value="x"/></name></Patient>',
            "unknown_element",
            "Patient.name.family",
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><birthDate/></Patient>',
            "invalid",
            "Patient.birthDate",
        ),
    ],
)
def test_bad_xml_names_the_element(raw: bytes, code: str, where: str | None) -> None:
    with pytest.raises(HubError) as err:
        formats.parse_xml(raw)
    assert err.value.code == code
    if where is not None:
        assert err.value.location == FhirLocation(where)


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[1,2]", b'{"a": NaN}', b"\xff\xfe", b'"just a string"'],
)
def test_bad_json_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        formats.parse_json(raw)


def test_deep_nesting_is_refused_fast_in_both_formats() -> None:
    deep_json = b'{"resourceType":"Patient","extension":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(ParseError) as err:
        formats.parse_json(deep_json)
    assert err.value.code in ("too_deep", "parse")
    ext = b'<extension url="u">' * 200 + b"</extension>" * 200
    deep_xml = b'<Patient xmlns="http://hl7.org/fhir">' + ext + b"</Patient>"
    with pytest.raises(ParseError) as err:
        formats.parse_xml(deep_xml)
    assert err.value.code == "too_deep"


def test_validation_names_the_element() -> None:
    errors = models.validate({"resourceType": "Patient", "birthDate": "1980-13-45", "shoe": 1})
    where = {str(e.location) for e in errors}
    assert where == {"Patient.birthDate", "Patient.shoe"}
    assert {e.code for e in errors} == {"invalid", "unknown_element"}
    with pytest.raises(UnsupportedError):
        models.validate({"resourceType": "Unicorn"})
    with pytest.raises(ValidationError) as missing:
        models.validate({"id": "x"})
    assert missing.value.location == FhirLocation("resourceType")


def test_validation_accepts_r4_money_exactly() -> None:
    claim_money = {"value": Decimal("145.09"), "currency": "USD"}
    assert (
        models.validate(
            {
                "resourceType": "Basic",
                "code": {"text": "x"},
                "extension": [{"url": "u", "valueMoney": claim_money}],
            }
        )
        == []
    )


@pytest.mark.parametrize(
    ("fmt", "accept", "expected"),
    [
        (None, None, Format.JSON),
        ("xml", "application/fhir+json", Format.XML),
        ("application/fhir+xml", None, Format.XML),
        ("json", None, Format.JSON),
        (None, "application/fhir+xml", Format.XML),
        (None, "text/html, application/xml;q=0.9, */*;q=0.8", Format.XML),
        (None, "application/fhir+json;q=0.5, application/fhir+xml", Format.XML),
        (None, "*/*", Format.JSON),
        (None, "text/html", Format.JSON),
        (None, "application/fhir+xml;q=0", Format.JSON),
    ],
)
def test_answer_format(fmt: str | None, accept: str | None, expected: Format) -> None:
    assert response_format(fmt, accept) is expected


def test_unknown_format_and_content_type_are_refused() -> None:
    with pytest.raises(UnsupportedError) as err:
        response_format("text/csv", None)
    assert err.value.code == "not_acceptable"
    assert request_format("application/fhir+xml; charset=utf-8") is Format.XML
    assert request_format("application/json") is Format.JSON
    for bad in (None, "", "text/plain"):
        with pytest.raises(UnsupportedError) as err:
            request_format(bad)
        assert err.value.code == "unsupported_media_type"
