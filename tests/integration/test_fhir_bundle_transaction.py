"""Transaction and batch Bundles at POST /fhir against a real server (issue 11, item 3):
a transaction is all or nothing, resolves urn:uuid and conditional references whatever the
entries' order, and runs DELETE, POST, PUT in the specification's order; a batch answers an
outcome per entry; respond-async answers 202 with a status URL that ends in the response."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from support.fhir_write_server import Server, serve
from support.ordering import wait_until

from hub.config import Settings
from hub.store import messages as store

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/fhir+json"}
PAT = "urn:uuid:6f1f7a1e-0000-4000-8000-000000000001"
ORG = "urn:uuid:6f1f7a1e-0000-4000-8000-000000000002"


@pytest.fixture
def server(any_db_settings: Settings, make_hub: HubFactory) -> Iterator[Server]:
    hub = make_hub(any_db_settings, dispatcher=None)  # embedded workers finish async work
    hub.start_background()
    with serve(hub, free_port) as srv:
        yield srv


def count(server: Server, table: str) -> int:
    with server.hub.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def entry(
    method: str, url: str, resource: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    found: dict[str, Any] = {"request": {"method": method, "url": url}, **extra}
    if resource is not None:
        found["resource"] = resource
    return found


def patient(mrn: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:hub:mrn:NORTHCLINIC", "value": mrn}],
        "name": [{"family": "Bundletest"}],
        **extra,
    }


def encounter(subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "identifier": [{"value": "V-BT1"}],
        "subject": {"reference": subject},
    }


def test_a_transaction_resolves_references_whatever_the_order(server: Server) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            # listed before what it points at: the server orders by dependency
            entry("POST", "Encounter", encounter(PAT)),
            entry(
                "POST",
                "Coverage",
                {
                    "resourceType": "Coverage",
                    "status": "active",
                    "beneficiary": {"reference": PAT},
                    "payor": [{"reference": ORG}],
                    "identifier": [{"value": "MEM-BT"}],
                },
            ),
            entry("POST", "Patient", patient("BT-1"), fullUrl=PAT),
            entry(
                "POST",
                "Organization",
                {
                    "resourceType": "Organization",
                    "identifier": [{"system": "urn:payer", "value": "PAYBT"}],
                    "type": [{"coding": [{"code": "pay"}]}],
                    "name": "Synthetic Plan",
                },
                fullUrl=ORG,
            ),
            entry(
                "PUT",
                "Patient?identifier=urn:hub:mrn:NORTHCLINIC|BT-1",
                patient("BT-1", gender="female"),
            ),
        ],
    }
    with server.client() as http:
        done = http.post("", json=bundle, headers=JSON)
        assert done.status_code == 200, done.text
        answer = done.json()
        assert answer["type"] == "transaction-response"
        statuses = [e["response"]["status"] for e in answer["entry"]]
        assert statuses == ["201 Created", "201 Created", "201 Created", "201 Created", "200 OK"]
        pid = answer["entry"][2]["response"]["location"].split("/")[1]
        enc = http.get("/" + answer["entry"][0]["response"]["location"].rsplit("/_history", 1)[0])
        assert enc.json()["subject"]["reference"].endswith(f"Patient/{pid}")
        assert http.get(f"/Patient/{pid}").json()["gender"] == "female"
    assert count(server, "coverages") == 1
    assert count(server, "messages") == 1  # one unit of work


def test_a_transaction_with_one_bad_entry_applies_nothing(server: Server) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry("POST", "Patient", patient("BT-2"), fullUrl=PAT),
            entry("POST", "Patient", patient("BT-3", gender="f")),
        ],
    }
    with server.client() as http:
        refused = http.post("", json=bundle, headers=JSON)
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.gender"]
    assert count(server, "patients") == 0


def test_a_transaction_failing_while_applied_rolls_back_every_entry(server: Server) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry("POST", "Patient", patient("BT-4")),
            entry("POST", "Encounter", encounter("Patient/987654")),  # no such patient
        ],
    }
    with server.client() as http:
        refused = http.post("", json=bundle, headers=JSON)
    assert refused.status_code == 422, refused.text
    assert refused.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.subject"]
    assert count(server, "patients") == 0


def test_entries_run_delete_first_then_post_then_put(server: Server) -> None:
    with server.client() as http:
        old = http.post("/Patient", json=patient("BT-OLD"), headers=JSON).json()["id"]
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                entry(
                    "PUT",
                    "Patient?identifier=urn:hub:mrn:NORTHCLINIC|BT-NEW",
                    patient("BT-NEW", gender="male"),
                ),
                entry("POST", "Patient", patient("BT-NEW")),
                entry("DELETE", f"Patient/{old}"),
            ],
        }
        done = http.post("", json=bundle, headers=JSON)
        assert done.status_code == 200, done.text
        statuses = [e["response"]["status"] for e in done.json()["entry"]]
        # the PUT ran after the POST (it updated what the POST made), the DELETE first
        assert statuses == ["200 OK", "201 Created", "204 No Content"]
        found = http.get("/Patient", params={"identifier": "urn:hub:mrn:NORTHCLINIC|BT-OLD"})
        assert found.json()["total"] == 0


def test_an_entry_without_request_is_refused_at_its_place(server: Server) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": patient("X")}],
    }
    with server.client() as http:
        refused = http.post("", json=bundle, headers=JSON)
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["expression"] == ["Bundle.entry[0].request"]


def test_a_batch_answers_each_entry(server: Server) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            entry("POST", "Patient", patient("BB-1")),
            entry("POST", "Encounter", encounter("Patient/987654")),
            entry("POST", "Patient", patient("BB-2")),
        ],
    }
    with server.client() as http:
        done = http.post("", json=bundle, headers=JSON)
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "201 Created"]
    outcome = answer["entry"][1]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[1].resource.subject"]
    assert count(server, "patients") == 2


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_respond_async_answers_202_then_the_response_bundle(server: Server, kind: str) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [entry("POST", "Patient", patient(f"AS-{i}")) for i in range(3)],
    }
    with server.client() as http:
        accepted = http.post("", json=bundle, headers={**JSON, "Prefer": "respond-async"})
        assert accepted.status_code == 202, accepted.text
        status_url = accepted.headers["content-location"]
        assert "/fhir/_async/" in status_url
        polled: list[int] = []

        def finished() -> bool:
            got = http.get(status_url)
            polled.append(got.status_code)
            return got.status_code == 200

        wait_until(finished, timeout=30, what="the async Bundle to finish")
        final = http.get(status_url).json()
    assert final["type"] == f"{kind}-response"
    assert [e["response"]["status"] for e in final["entry"]] == ["201 Created"] * 3
    assert set(polled) <= {200, 202}
    with server.hub.uow() as uow:
        recs = store.search(uow.conn, store.MessageFilter(protocol="fhir", limit=None))
    types = sorted(r.type for r in recs)
    if kind == "batch":  # a document of items (ADR 0009)
        assert types == ["batch^Bundle", "entry^Patient", "entry^Patient", "entry^Patient"]
    else:  # one unit: atomic
        assert types == ["transaction^Bundle"]
