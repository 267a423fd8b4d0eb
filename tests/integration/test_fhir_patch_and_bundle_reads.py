"""PATCH (JSON Patch) at the REST level and in Bundles, and GET entries in transactions and
batches, against a real server on loopback (issue 11, items 1 and 3). The Bundles are built
and their answers read with a third-party client's models (``fhirclient``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from fhirclient.models.binary import Binary
from fhirclient.models.bundle import Bundle, BundleEntry, BundleEntryRequest
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRServer
from support.fhir_write_server import Server, serve

from hub.config import Settings

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/fhir+json"}
PATCH = {"Content-Type": "application/json-patch+json"}
MRN = "urn:hub:mrn:NORTHCLINIC"


@pytest.fixture
def server(any_db_settings: Settings, make_hub: HubFactory) -> Iterator[Server]:
    hub = make_hub(any_db_settings, dispatcher=None)
    hub.start_background()
    with serve(hub, free_port) as srv:
        yield srv


@pytest.fixture
def fhir(server: Server) -> FHIRServer:
    client = FHIRServer(None, base_uri=server.base + "/")
    client.session.headers["Authorization"] = f"Bearer {server.token}"
    return client


def patient(mrn: str, family: str = "Patchtest", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": MRN, "value": mrn}],
        "name": [{"family": family, "given": ["Synth"]}],
        "gender": "female",
        "birthDate": "1980-02-03",
        **extra,
    }


def created(http: httpx.Client, resource: dict[str, Any]) -> str:
    done = http.post(f"/{resource['resourceType']}", json=resource, headers=JSON)
    assert done.status_code == 201, done.text
    return str(done.headers["Location"].split("/fhir/")[1].split("/")[1])


def expression(answer: httpx.Response) -> list[str]:
    return list(answer.json()["issue"][0].get("expression", []))


def test_rest_patch_honours_if_match_and_answers_the_patched_resource(server: Server) -> None:
    with server.client() as http:
        pid = created(http, patient("PT-1"))
        ops = [
            {"op": "test", "path": "/gender", "value": "female"},
            {"op": "replace", "path": "/gender", "value": "male"},
            {"op": "add", "path": "/name/0/given/-", "value": "Quinn"},
        ]
        headers = {**PATCH, "If-Match": 'W/"1"', "Prefer": "return=representation"}
        done = http.patch(f"/Patient/{pid}", content=json.dumps(ops), headers=headers)
        assert done.status_code == 200, done.text
        assert done.headers["ETag"] == 'W/"2"'
        assert done.json()["gender"] == "male"
        assert done.json()["name"][0]["given"] == ["Synth", "Quinn"]
        stale = http.patch(f"/Patient/{pid}", content=json.dumps(ops[1:]), headers=headers)
        assert stale.status_code == 412, stale.text
        assert http.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "2"
        # a conditional patch finds the resource by its identifier
        cond = http.patch(
            "/Patient",
            params={"identifier": f"{MRN}|PT-1"},
            content=json.dumps([{"op": "replace", "path": "/birthDate", "value": "1981-02-03"}]),
            headers=PATCH,
        )
        assert cond.status_code == 200, cond.text
        assert http.get(f"/Patient/{pid}").json()["birthDate"] == "1981-02-03"


@pytest.mark.parametrize(
    ("ops", "status", "where"),
    [
        ([{"op": "replace", "path": "/gender", "value": "f"}], 422, "Patient.gender"),
        ([{"op": "replace", "path": "/id", "value": "99"}], 422, "Patient.id"),
        (
            [{"op": "replace", "path": "/meta/versionId", "value": "9"}],
            422,
            "Patient.meta.versionId",
        ),
        ([{"op": "move", "from": "/resourceType", "path": "/x"}], 422, "Patient.resourceType"),
        ([{"op": "test", "path": "/gender", "value": "male"}], 422, "Patient.patch[0]"),
        ([{"op": "remove", "path": "/name/7"}], 422, "Patient.patch[0]"),
        ([{"op": "remove", "path": "/a"}] * 5000, 413, "Patient.patch"),
        # a huge array: refused by its size before the R4B models see it
        (
            [{"op": "add", "path": "/photo", "value": [{"title": "x"}] * 60_000}],
            413,
            "Patient.patch",
        ),
        ({"op": "remove", "path": "/gender"}, 400, "Patient.patch"),
    ],
)
def test_a_bad_patch_is_an_operation_outcome_and_changes_nothing(
    server: Server, ops: Any, status: int, where: str
) -> None:
    with server.client() as http:
        pid = created(http, patient("PT-2"))
        done = http.patch(f"/Patient/{pid}", content=json.dumps(ops), headers=PATCH)
        assert done.status_code == status, done.text
        assert done.json()["resourceType"] == "OperationOutcome"
        assert expression(done) == [where]
        after = http.get(f"/Patient/{pid}").json()
    assert after["meta"]["versionId"] == "1"
    assert after["gender"] == "female"


def test_rest_patch_refuses_other_media_types_and_unknown_resources(server: Server) -> None:
    ops = json.dumps([{"op": "remove", "path": "/gender"}])
    with server.client() as http:
        pid = created(http, patient("PT-3"))
        fhirpath = http.patch(f"/Patient/{pid}", content=ops, headers=JSON)
        assert fhirpath.status_code == 415
        missing = http.patch("/Patient/123456", content=ops, headers=PATCH)
        assert missing.status_code == 404
        garbage = http.patch(f"/Patient/{pid}", content=b"[{", headers=PATCH)
        assert garbage.status_code == 400


def binary_patch(ops: list[dict[str, Any]]) -> Binary:
    return Binary(
        {
            "resourceType": "Binary",
            "contentType": "application/json-patch+json",
            "data": base64.b64encode(json.dumps(ops).encode()).decode(),
        }
    )


def bundle_entry(method: str, url: str, resource: Any = None, full_url: str | None = None) -> Any:
    found = BundleEntry()
    found.request = BundleEntryRequest({"method": method, "url": url})
    found.resource = resource
    found.fullUrl = full_url
    return found


def test_a_transaction_patches_and_its_gets_see_its_writes(
    server: Server, fhir: FHIRServer
) -> None:
    with server.client() as http:
        old = created(http, patient("PT-4", family="Before"))
    new_url = "urn:uuid:8d6a3c1e-0000-4000-8000-000000000001"
    tx = Bundle({"resourceType": "Bundle", "type": "transaction"})
    tx.entry = [
        # listed first, run last (http.html#trules): they read what the writes made
        bundle_entry("GET", f"Patient?identifier={MRN}|PT-5"),
        bundle_entry("GET", f"Patient/{old}"),
        bundle_entry(
            "PATCH",
            f"Patient/{old}",
            binary_patch(
                [
                    {"op": "replace", "path": "/name/0/family", "value": "After"},
                ]
            ),
        ),
        bundle_entry("POST", "Patient", Patient(patient("PT-5", family="Newcomer")), new_url),
    ]
    answer = Bundle(fhir.post_json("", tx.as_json()).json())
    assert answer.type == "transaction-response"
    assert [e.response.status for e in answer.entry] == [
        "200 OK",
        "200 OK",
        "200 OK",
        "201 Created",
    ]
    search = answer.entry[0].resource
    assert isinstance(search, Bundle) and search.total == 1
    assert search.entry[0].resource.name[0].family == "Newcomer"
    read = answer.entry[1].resource
    assert isinstance(read, Patient)
    assert read.name[0].family == "After" and read.meta.versionId == "2"
    assert Patient.read(old, fhir).name[0].family == "After"
    # the stored answer keeps ids and versions only: no patient data at rest in fhir_results
    with server.hub.engine.connect() as conn:
        bodies = conn.execute(sa.text("SELECT body FROM fhir_results")).scalars().all()
    assert bodies and not any("Newcomer" in str(b) or "After" in str(b) for b in bodies)


def test_a_transaction_whose_get_fails_applies_nothing(server: Server) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "POST", "url": "Patient"}, "resource": patient("PT-6")},
            {"request": {"method": "GET", "url": "Patient/no-such-one"}},
        ],
    }
    with server.client() as http:
        done = http.post("", json=bundle, headers=JSON)
        assert done.status_code == 404, done.text
        assert expression(done) == ["Bundle.entry[1]"]
        found = http.get("/Patient", params={"identifier": f"{MRN}|PT-6"}).json()
    assert found["total"] == 0


def test_a_patch_entry_that_breaks_the_resource_fails_the_transaction(server: Server) -> None:
    with server.client() as http:
        pid = created(http, patient("PT-7"))
        ops = [{"op": "replace", "path": "/gender", "value": "f"}]
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"request": {"method": "POST", "url": "Patient"}, "resource": patient("PT-8")},
                {
                    "request": {"method": "PATCH", "url": f"Patient/{pid}"},
                    "resource": binary_patch(ops).as_json(),
                },
            ],
        }
        done = http.post("", json=bundle, headers=JSON)
        assert done.status_code == 422, done.text
        assert expression(done) == ["Bundle.entry[1].resource.gender"]
        none = http.get("/Patient", params={"identifier": f"{MRN}|PT-8"}).json()
        assert none["total"] == 0
        fhirpath = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "request": {"method": "PATCH", "url": f"Patient/{pid}"},
                    "resource": {"resourceType": "Parameters", "parameter": []},
                },
            ],
        }
        refused = http.post("", json=fhirpath, headers=JSON)
        assert refused.status_code == 415
        assert expression(refused) == ["Bundle.entry[0].resource.resourceType"]


def test_a_batch_answers_gets_and_patches_entry_by_entry(server: Server) -> None:
    with server.client() as http:
        pid = created(http, patient("PT-9"))
        ops = [{"op": "replace", "path": "/gender", "value": "other"}]
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {
                    "request": {"method": "PATCH", "url": f"Patient/{pid}"},
                    "resource": binary_patch(ops).as_json(),
                },
                {"request": {"method": "GET", "url": "Patient/no-such-one"}},
                {"request": {"method": "GET", "url": f"Patient?identifier={MRN}|PT-9"}},
            ],
        }
        done = http.post("", json=bundle, headers=JSON)
        assert done.status_code == 200, done.text
        entries = done.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["200 OK", "404 Not Found", "200 OK"]
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    found = entries[2]["resource"]
    assert found["type"] == "searchset" and found["total"] == 1
    assert found["entry"][0]["resource"]["identifier"][0]["value"] == "PT-9"
    assert "_hubStub" not in json.dumps(entries)
