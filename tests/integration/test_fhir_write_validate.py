"""``$validate`` (type and instance level), XML writes, asynchronous single writes, and the
lane a FHIR write shares with HL7 v2 for the same patient (issue 11, items 4 and 5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HubFactory, free_port
from support.fhir_write_server import Server, serve
from support.ordering import wait_until

from hub.config import Settings
from hub.store import messages as store

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def server(tmp_path: Path, make_hub: HubFactory) -> Iterator[Server]:
    hub = make_hub(Settings(data_dir=tmp_path / "var"), dispatcher=None)
    hub.start_background()
    with serve(hub, free_port) as srv:
        yield srv


def patient(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:hub:mrn:NORTHCLINIC", "value": "V-1"}],
        "name": [{"family": "Validatetest"}],
        **extra,
    }


def test_validate_lists_every_issue_with_its_expression(server: Server) -> None:
    bad = patient(gender="F", shoeSize=1)
    with server.client() as http:
        found = http.post("/Patient/$validate", json=bad, headers=JSON)
        fine = http.post("/Patient/$validate", json=patient(), headers=JSON)
        wrapped = http.post(
            "/Patient/$validate",
            json={
                "resourceType": "Parameters",
                "parameter": [{"name": "resource", "resource": patient(birthDate="1990-02-31")}],
            },
            headers=JSON,
        )
    assert found.status_code == 400
    assert ["Patient.shoeSize"] in [i.get("expression") for i in found.json()["issue"]]
    assert fine.status_code == 200
    assert fine.json()["issue"][0]["severity"] == "information"
    assert wrapped.json()["issue"][0]["expression"] == ["Patient.birthDate"]
    with server.hub.uow() as uow:  # nothing stored, nothing applied
        assert store.search(uow.conn, store.MessageFilter(protocol="fhir")) == []


def test_validate_at_instance_level_checks_the_id_and_the_instance(server: Server) -> None:
    with server.client() as http:
        pid = http.post("/Patient", json=patient(), headers=JSON).json()["id"]
        ok = http.post(f"/Patient/{pid}/$validate", json=patient(id=pid), headers=JSON)
        other = http.post(f"/Patient/{pid}/$validate", json=patient(id="x"), headers=JSON)
        missing = http.post("/Patient/424242/$validate", json=patient(id="424242"), headers=JSON)
    assert ok.status_code == 200
    assert other.json()["issue"][0]["expression"] == ["Patient.id"]
    assert missing.status_code == 404


def test_an_xml_write_is_stored_as_sent_and_answers_in_xml(server: Server) -> None:
    body = (
        b'<Patient xmlns="http://hl7.org/fhir"><identifier>'
        b'<system value="urn:hub:mrn:NORTHCLINIC"/>'
        b'<value value="X-1"/></identifier><name><family value="Xmltest"/></name>'
        b'<gender value="female"/></Patient>'
    )
    headers = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+xml"}
    with server.client() as http:
        made = http.post("/Patient", content=body, headers=headers)
    assert made.status_code == 201, made.text
    assert made.headers["content-type"].startswith("application/fhir+xml")
    assert b'<family value="Xmltest"/>' in made.content
    with server.hub.uow() as uow:
        rec = store.search(uow.conn, store.MessageFilter(protocol="fhir"))[0]
        assert store.get(uow.conn, rec.id, with_raw=True).raw == body


def test_a_fhir_write_waits_in_the_hl7_lane_of_the_same_patient(server: Server) -> None:
    with server.client() as http:
        made = http.post("/Patient", json=patient(), headers=JSON)
        assert made.status_code == 201
        encounter = {
            "resourceType": "Encounter",
            "status": "planned",
            "class": {"code": "AMB"},
            "subject": {"reference": f"Patient/{made.json()['id']}"},
        }
        http.post("/Encounter", json=encounter, headers=JSON)
    with server.hub.uow() as uow:
        recs = store.search(uow.conn, store.MessageFilter(protocol="fhir", newest_first=False))
    # HL7 v2 files an ADT from facility NORTHCLINIC for MRN V-1 in lane "NORTHCLINIC/V-1"
    assert recs[0].lane_keys[0] == "NORTHCLINIC/V-1"
    assert recs[1].lane_keys[0] == "NORTHCLINIC/V-1"


def test_respond_async_on_a_single_write(server: Server) -> None:
    with server.client() as http:
        accepted = http.post(
            "/Patient", json=patient(), headers={**JSON, "Prefer": "respond-async"}
        )
        assert accepted.status_code == 202
        url = accepted.headers["content-location"]
        wait_until(lambda: http.get(url).status_code == 201, timeout=30, what="the write")
        final = http.get(url)
    assert final.headers["location"].endswith("/_history/1")
    assert final.json()["name"][0]["family"] == "Validatetest"


def test_the_capability_statement_states_the_writes(server: Server) -> None:
    with httpx.Client() as http:  # public: no token
        statement = http.get(f"{server.base}/metadata").json()
    rest = statement["rest"][0]
    assert {"transaction", "batch"} <= {i["code"] for i in rest["interaction"]}
    by_type = {r["type"]: r for r in rest["resource"]}
    for kind in ("Patient", "Practitioner", "Organization", "Location", "Coverage"):
        codes = {i["code"] for i in by_type[kind]["interaction"]}
        assert {"create", "update", "delete", "read"} <= codes, kind
        assert by_type[kind]["conditionalCreate"] is True
    for kind in ("Encounter", "Appointment", "Claim"):
        assert "create" in {i["code"] for i in by_type[kind]["interaction"]}
    assert "create" not in {i["code"] for i in by_type["ExplanationOfBenefit"]["interaction"]}
    assert "validate" in {o["name"] for o in by_type["Patient"].get("operation", [])}
