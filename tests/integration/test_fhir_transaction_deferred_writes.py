"""A transaction Bundle writes its history rows, identifier bindings, patient identifier rows
and outbox events together, once (ADR 0021, "Set-based writes"), and answers with versions it
did not read back. Against a real server on SQLite and PostgreSQL: what it answers is what is
stored; an identifier another resource holds, or two entries claim, fails the whole Bundle at
the entry; a deleted resource's identifier is free for a later entry; a conditional reference
finds a resource an earlier entry of the same Bundle made."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from support.fhir_write_server import Server, serve

from hub.config import Settings

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/fhir+json"}
SSN = "http://hl7.org/fhir/sid/us-ssn"
PAT = "urn:uuid:7a2b0c1d-0000-4000-8000-000000000001"


@pytest.fixture
def server(any_db_settings: Settings, make_hub: HubFactory) -> Iterator[Server]:
    with serve(make_hub(any_db_settings), free_port) as srv:
        yield srv


def rows(server: Server, sql: str) -> list[Any]:
    with server.hub.engine.connect() as conn:
        return list(conn.execute(sa.text(sql)))


def patient(mrn: str, ssn: str | None = None, **extra: Any) -> dict[str, Any]:
    idents = [{"system": "urn:hub:mrn:DEFERCLINIC", "value": mrn}]
    if ssn is not None:
        idents.append({"system": SSN, "value": ssn})
    return {
        "resourceType": "Patient",
        "identifier": idents,
        "name": [{"family": "Deferredtest"}],
        **extra,
    }


def post(method: str, url: str, resource: dict[str, Any] | None = None, **extra: Any) -> Any:
    found: dict[str, Any] = {"request": {"method": method, "url": url}, **extra}
    if resource is not None:
        found["resource"] = resource
    return found


def transaction(*entries: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def appointment(subject: str, value: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "identifier": [{"system": "urn:defer", "value": value}],
        "start": "2026-12-03T10:00:00Z",
        "minutesDuration": 20,
        "participant": [{"actor": {"reference": subject}, "status": "accepted"}],
    }


def test_the_answer_names_the_versions_and_times_that_are_stored(server: Server) -> None:
    bundle = transaction(
        post("POST", "Patient", patient("DF-1", "900-22-0001"), fullUrl=PAT),
        post(
            "POST",
            "Encounter",
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "identifier": [{"value": "V-DF1"}],
                "subject": {"reference": PAT},
            },
        ),
        post("POST", "Appointment", appointment(PAT, "A-DF1")),
        post("POST", "Appointment", appointment(PAT, "A-DF2")),
        # the patient again, in the same Bundle: a second version, its identifiers not doubled
        post(
            "PUT",
            "Patient?identifier=urn:hub:mrn:DEFERCLINIC|DF-1",
            patient("DF-1", "900-22-0001", gender="female"),
        ),
    )
    with server.client() as http:
        done = http.post("", json=bundle, headers=JSON)
        assert done.status_code == 200, done.text
        answers = [e["response"] for e in done.json()["entry"]]
        assert [a["status"] for a in answers] == ["201 Created"] * 4 + ["200 OK"]
        assert answers[0]["etag"] == 'W/"1"' and answers[4]["etag"] == 'W/"2"'
        assert answers[4]["location"].startswith(answers[0]["location"].split("/_history")[0])
        for answer in answers:
            read = http.get("/" + answer["location"])  # vread of the version it names
            assert read.status_code == 200, read.text
            assert read.headers["ETag"] == answer["etag"]
            assert read.json()["meta"]["versionId"] == answer["etag"][3:-1]
            lastmod = read.json()["meta"]["lastUpdated"]
            assert lastmod[:19] == answer["lastModified"][:19], (lastmod, answer)
        pid = answers[0]["location"].split("/")[1]
        history = http.get(f"/Patient/{pid}/_history").json()
        assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    # the MRN and the SSN, once each: the PUT read back the rows its POST had kept for later
    idents = rows(server, "SELECT count(*), count(DISTINCT value_key) FROM patient_identifiers")
    assert tuple(idents[0]) == (2, 2)
    kinds = sorted(r[0] for r in rows(server, "SELECT resource_type FROM fhir_identifiers"))
    assert kinds == ["Appointment", "Appointment", "Encounter", "Patient", "Patient"]
    events = rows(server, "SELECT event FROM outbox ORDER BY id")
    assert [e[0] for e in events] == ["AppointmentBooked", "AppointmentBooked"]
    assert len(rows(server, "SELECT id FROM pm_history WHERE entity_type = 'patients'")) == 2


def test_an_identifier_another_resource_holds_fails_the_bundle_at_its_entry(
    server: Server,
) -> None:
    with server.client() as http:
        first = http.post("/Patient", json=patient("DF-2", "900-22-0002"), headers=JSON)
        assert first.status_code == 201, first.text
        before = rows(server, "SELECT count(*) FROM patients")[0][0]
        refused = http.post(
            "",
            json=transaction(
                post("POST", "Patient", patient("DF-3", "900-22-0003")),
                post("POST", "Patient", patient("DF-4", "900-22-0002")),  # DF-2's SSN
            ),
            headers=JSON,
        )
    assert refused.status_code == 409, refused.text
    issue = refused.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1]"]
    assert rows(server, "SELECT count(*) FROM patients")[0][0] == before
    assert len(rows(server, "SELECT id FROM fhir_identifiers")) == 2  # DF-2's only


def test_two_entries_claiming_one_identifier_fail_the_bundle(server: Server) -> None:
    with server.client() as http:
        refused = http.post(
            "",
            json=transaction(
                post("POST", "Patient", patient("DF-5", "900-22-0005")),
                post("POST", "Patient", patient("DF-6", "900-22-0005")),
            ),
            headers=JSON,
        )
    assert refused.status_code == 409, refused.text
    assert refused.json()["issue"][0]["expression"] == ["Bundle.entry[1]"]
    assert rows(server, "SELECT count(*) FROM patients")[0][0] == 0
    assert rows(server, "SELECT count(*) FROM fhir_identifiers")[0][0] == 0
    assert rows(server, "SELECT count(*) FROM pm_history")[0][0] == 0


def test_a_deleted_resources_identifier_is_free_for_a_later_entry(server: Server) -> None:
    with server.client() as http:
        old = http.post("/Patient", json=patient("DF-7", "900-22-0007"), headers=JSON)
        assert old.status_code == 201, old.text
        done = http.post(
            "",
            json=transaction(
                post("POST", "Patient", patient("DF-8", "900-22-0007")),
                post("DELETE", f"Patient/{old.json()['id']}"),  # runs first
            ),
            headers=JSON,
        )
        assert done.status_code == 200, done.text
        new_id = done.json()["entry"][0]["response"]["location"].split("/")[1]
        found = http.get("/Patient", params={"identifier": f"{SSN}|900-22-0007"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [new_id]


def test_a_conditional_reference_finds_what_an_earlier_entry_made(server: Server) -> None:
    with server.client() as http:
        done = http.post(
            "",
            json=transaction(
                post("POST", "Patient", patient("DF-9", "900-22-0009")),
                post(
                    "POST",
                    "Appointment",
                    appointment(f"Patient?identifier={SSN}|900-22-0009", "A-DF9"),
                ),
            ),
            headers=JSON,
        )
        assert done.status_code == 200, done.text
        answers = [e["response"] for e in done.json()["entry"]]
        pid = answers[0]["location"].split("/")[1]
        made = http.get("/" + answers[1]["location"].split("/_history")[0]).json()
    actors = [p["actor"]["reference"] for p in made["participant"]]
    assert any(a.endswith(f"Patient/{pid}") for a in actors), actors
