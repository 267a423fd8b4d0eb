"""``POST /fhir/$convert-hl7v2`` over HTTP (issue 11 item 6): ER7 or a Parameters resource in,
an R4B-valid Bundle out (JSON or XML), bad input as an OperationOutcome naming the HL7 field,
nothing stored."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.adapters.fhir import formats, models
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.config import Settings
from hub.store import keys
from hub.store.keys import Role

sys.path.insert(0, str(Path(__file__).parent))
from test_convert import adt

URL = "/fhir/$convert-hl7v2"


@pytest.fixture
def api(make_hub: object, sqlite_settings: Settings) -> Iterator[TestClient]:
    hub: Hub = make_hub(sqlite_settings)  # type: ignore[operator]
    with hub.uow() as uow:
        _, tok = keys.create(uow.conn, name="conv", role=Role.FEED, now=hub.clock.now())
        uow.commit()
    with TestClient(create_app(hub)) as c:
        c.headers["Authorization"] = f"Bearer {tok}"
        yield c


def test_er7_body_answers_a_valid_bundle(api: TestClient) -> None:
    r = api.post(URL, content=adt(), headers={"Content-Type": "x-application/hl7-v2+er7"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = formats.parse_json(r.content)
    assert models.validate(bundle) == []
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} >= {"Patient", "Encounter"}


def test_parameters_body_and_xml_answer(api: TestClient) -> None:
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "message", "valueString": adt().decode()}],
    }
    r = api.post(
        URL,
        content=json.dumps(params),
        headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+xml"},
    )
    assert r.status_code == 200, r.text
    bundle = formats.parse_xml(r.content)
    assert bundle["type"] == "transaction" and models.validate(bundle) == []
    plain = api.post(URL, content=adt(), headers={"Content-Type": "text/plain"})
    assert formats.parse_json(plain.content) == bundle  # one conversion, two encodings


@pytest.mark.parametrize(
    ("body", "ctype", "status", "expression"),
    [
        (adt(birth="19801345"), "text/plain", 400, "PID-7"),
        (b"MSH|^~\\&|A|B|C|D|20260101||ORU^R01|X|P|2.5\r", "text/plain", 400, "MSH-9"),
        (b'{"resourceType":"Parameters"}', "application/fhir+json", 400, "Parameters"),
        (b'{"resourceType":"Patient"}', "application/fhir+json", 400, "resourceType"),
        (b"{not json", "application/fhir+json", 400, None),
        (b"x", "image/png", 415, None),
    ],
)
def test_bad_input_is_an_operation_outcome(
    api: TestClient, body: bytes, ctype: str, status: int, expression: str | None
) -> None:
    r = api.post(URL, content=body, headers={"Content-Type": ctype})
    outcome = formats.parse_json(r.content)
    assert outcome["resourceType"] == "OperationOutcome", r.text
    assert r.status_code == status, r.text
    if expression:
        assert outcome["issue"][0]["expression"] == [expression]


def test_needs_a_token(api: TestClient) -> None:
    r = api.post(URL, content=adt(), headers={"Authorization": "", "Content-Type": "text/plain"})
    assert r.status_code == 401
    assert formats.parse_json(r.content)["resourceType"] == "OperationOutcome"


def test_the_operation_is_in_the_capability_statement(api: TestClient) -> None:
    statement = formats.parse_json(api.get("/fhir/metadata").content)
    assert {"name": "convert-hl7v2"}.items() <= statement["rest"][0]["operation"][0].items()
