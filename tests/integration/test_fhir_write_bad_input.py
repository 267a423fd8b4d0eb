"""Hostile and broken FHIR writes (issue 11, "Bad input"): each is a 4xx OperationOutcome
whose ``expression`` names the element at fault, answered fast, never a 500; nothing is
applied, and what arrived is stored as failed with its reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from support.fhir_write_server import Server, serve

from hub.config import Settings

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/fhir+json"}
XML = {"Content-Type": "application/fhir+xml"}


@pytest.fixture
def server(tmp_path: Path, make_hub: HubFactory) -> Iterator[Server]:
    settings = Settings(data_dir=tmp_path / "var", fhir_bundle_max_entries=5)
    hub = make_hub(settings)
    with serve(hub, free_port) as srv:
        yield srv


def patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": "Hostile"}], **extra}


def encounter(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Encounter", "status": "planned", "class": {"code": "AMB"}, **extra}


def nested(depth: int) -> bytes:
    inner: dict[str, Any] = {"url": "urn:x", "valueString": "x"}
    for _ in range(depth):
        inner = {"url": "urn:x", "extension": [inner]}
    return json.dumps(patient(extension=[inner])).encode()


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Patient xmlns="http://hl7.org/fhir"><name><family value="&lol3;"/></name></Patient>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Patient xmlns="http://hl7.org/fhir"><name><family value="&xxe;"/></name></Patient>"""

CASES: list[tuple[str, str, bytes, dict[str, str], int, str | None]] = [
    ("invalid JSON", "/Patient", b'{"resourceType": "Patient",', JSON, 400, None),
    ("invalid XML", "/Patient", b"<Patient xmlns='http://hl7.org/fhir'><name>", XML, 400, None),
    ("XML entity bomb", "/Patient", BOMB, XML, 400, None),
    ("XML external entity", "/Patient", EXTERNAL, XML, 400, None),
    (
        "unknown resource type",
        "/Patient",
        b'{"resourceType": "Patientt"}',
        JSON,
        404,
        "resourceType",
    ),
    ("missing resourceType", "/Patient", b'{"name": [{"family": "X"}]}', JSON, 400, "resourceType"),
    (
        "unknown element",
        "/Patient",
        json.dumps(patient(shoeSize=9)).encode(),
        JSON,
        400,
        "Patient.shoeSize",
    ),
    (
        "wrong reference type",
        "/Encounter",
        json.dumps(encounter(subject={"reference": "Practitioner/1"})).encode(),
        JSON,
        400,
        "Encounter.subject",
    ),
    (
        "missing required element",
        "/Encounter",
        json.dumps({"resourceType": "Encounter", "class": {"code": "AMB"}}).encode(),
        JSON,
        400,
        "Encounter.status",
    ),
    (
        "bad date",
        "/Patient",
        json.dumps(patient(birthDate="1990-02-30")).encode(),
        JSON,
        400,
        "Patient.birthDate",
    ),
    (
        "invalid code",
        "/Patient",
        json.dumps(patient(gender="F")).encode(),
        JSON,
        400,
        "Patient.gender",
    ),
    ("deep nesting", "/Patient", nested(80), JSON, 400, None),
    ("type not the URL's", "/Encounter", json.dumps(patient()).encode(), JSON, 400, "resourceType"),
    ("empty body", "/Patient", b"", JSON, 400, None),
    ("not FHIR media type", "/Patient", b"{}", {"Content-Type": "text/plain"}, 415, None),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "expression"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_writes_answer_an_outcome_naming_the_element(
    server: Server,
    *,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    expression: str | None,
) -> None:
    with server.client() as http:
        got = http.post(path, content=body, headers=headers)
    assert got.status_code == status, got.text
    found = got.json()
    assert found["resourceType"] == "OperationOutcome"
    issue = found["issue"][0]
    assert issue["severity"] == "error"
    if expression is not None:
        assert expression in issue["expression"]
    assert b"root:" not in got.content  # the external entity was never read
    with server.hub.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM patients")).scalar_one() == 0


def test_a_bad_write_is_stored_as_failed_with_its_reason(server: Server) -> None:
    with server.client() as http:
        http.post("/Patient", content=BOMB, headers=XML)
    with server.hub.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT status, last_error_code FROM messages WHERE protocol = 'fhir'")
        ).one()
    assert tuple(row) == ("failed", "xml_dtd")


def test_a_wrong_version_in_if_match_is_412(server: Server) -> None:
    with server.client() as http:
        made = http.post("/Patient", json=patient(), headers=JSON)
        pid = made.json()["id"]
        stale = http.put(
            f"/Patient/{pid}", json=patient(id=pid), headers={**JSON, "If-Match": 'W/"7"'}
        )
        malformed = http.put(
            f"/Patient/{pid}", json=patient(id=pid), headers={**JSON, "If-Match": "yesterday"}
        )
    assert stale.status_code == 412
    assert malformed.status_code == 400
    assert malformed.json()["issue"][0]["expression"] == ["If-Match"]


def test_a_bundle_over_the_entry_limit_is_413(server: Server) -> None:
    entries = [{"request": {"method": "POST", "url": "Patient"}, "resource": patient()}] * 6
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    with server.client() as http:
        got = http.post(server.base, json=bundle, headers=JSON)
    assert got.status_code == 413
    assert got.json()["issue"][0]["expression"] == ["Bundle.entry"]


def test_a_bundle_of_another_type_is_refused(server: Server) -> None:
    with server.client() as http:
        got = http.post(
            server.base, json={"resourceType": "Bundle", "type": "collection"}, headers=JSON
        )
    assert got.status_code == 400
    assert got.json()["issue"][0]["expression"] == ["Bundle.type"]
