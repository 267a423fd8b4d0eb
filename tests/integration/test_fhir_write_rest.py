"""FHIR REST writes against a real server on loopback (issue 11, items 1, 4, 5): create,
update, update-as-create, conditional create and update, delete with the PM's reasons,
If-Match, Prefer, and every write stored raw, processed through the synchronous path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from support.fhir_write_server import Server, serve

from hub.config import Settings
from hub.store.lifecycle import Status
from hub.store.message_tables import messages
from hub.store.messages import get as store_get

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/fhir+json"}
MRN = {"system": "urn:hub:mrn:NORTHCLINIC", "value": "W-1"}


@pytest.fixture
def server(any_db_settings: Settings, make_hub: HubFactory) -> Iterator[Server]:
    hub = make_hub(any_db_settings)
    with serve(hub, free_port) as srv:
        yield srv


def patient(**extra: object) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "identifier": [MRN],
        "name": [{"family": "Writetest", "given": ["Wendy"]}],
        "gender": "female",
        "birthDate": "1990-01-02",
        **extra,
    }


def test_create_read_update_and_delete_a_patient(server: Server) -> None:
    with server.client() as http:
        made = http.post("/Patient", json=patient(), headers=JSON)
        assert made.status_code == 201, made.text
        assert made.headers["etag"] == 'W/"1"'
        location = made.headers["location"]
        assert location.startswith(f"{server.base}/Patient/") and location.endswith("/_history/1")
        assert made.json()["name"][0]["family"] == "Writetest"
        pid = made.json()["id"]
        changed = http.put(
            f"/Patient/{pid}",
            json=patient(id=pid, gender="male"),
            headers={**JSON, "If-Match": 'W/"1"'},
        )
        assert changed.status_code == 200, changed.text
        assert changed.headers["etag"] == 'W/"2"'
        stale = http.put(
            f"/Patient/{pid}",
            json=patient(id=pid, gender="other"),
            headers={**JSON, "If-Match": 'W/"1"'},
        )
        assert stale.status_code == 412
        assert stale.json()["resourceType"] == "OperationOutcome"
        assert http.get(f"/Patient/{pid}").json()["gender"] == "male"
        assert http.delete(f"/Patient/{pid}").status_code == 204
        assert http.get(f"/Patient/{pid}").status_code == 404
    with server.hub.engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.type, messages.c.status).where(messages.c.protocol == "fhir")
        ).all()
    assert [r.type for r in rows] == ["write^Patient"] * 4
    assert [r.status for r in rows] == ["processed", "processed", "failed", "processed"]


def test_prefer_minimal_and_operation_outcome(server: Server) -> None:
    with server.client() as http:
        minimal = http.post(
            "/Patient", json=patient(), headers={**JSON, "Prefer": "return=minimal"}
        )
        assert (minimal.status_code, minimal.content) == (201, b"")
        assert minimal.headers["location"]
        said = http.put(
            minimal.headers["location"].split("/fhir/")[1].rsplit("/_history", 1)[0],
            json=patient(id=minimal.headers["location"].split("/")[-3]),
            headers={**JSON, "Prefer": "return=OperationOutcome"},
        )
        assert said.status_code == 200
        assert said.json()["resourceType"] == "OperationOutcome"


def test_update_as_create_keeps_the_client_id(server: Server) -> None:
    with server.client() as http:
        made = http.put("/Patient/wendy-1", json=patient(id="wendy-1"), headers=JSON)
        assert made.status_code == 201, made.text
        assert made.json()["id"] == "wendy-1"
        assert made.headers["location"].endswith("/Patient/wendy-1/_history/1")
        again = http.put(
            "/Patient/wendy-1", json=patient(id="wendy-1", gender="male"), headers=JSON
        )
        assert again.status_code == 200
        assert http.get("/Patient/wendy-1").json()["gender"] == "male"
        numeric = http.put("/Patient/999999", json=patient(id="999999"), headers=JSON)
        assert numeric.status_code == 400


def test_conditional_create_and_update_on_identifier(server: Server) -> None:
    criteria = "identifier=urn:hub:mrn:NORTHCLINIC|W-1"
    with server.client() as http:
        first = http.post("/Patient", json=patient(), headers={**JSON, "If-None-Exist": criteria})
        assert first.status_code == 201
        second = http.post("/Patient", json=patient(), headers={**JSON, "If-None-Exist": criteria})
        assert second.status_code == 200
        assert second.json()["id"] == first.json()["id"]
        updated = http.put(f"/Patient?{criteria}", json=patient(gender="unknown"), headers=JSON)
        assert updated.status_code == 200
        assert updated.json()["id"] == first.json()["id"]
        assert updated.json()["gender"] == "unknown"


def test_a_patient_with_claims_is_not_deleted_and_the_outcome_says_why(server: Server) -> None:
    with server.client() as http:
        pid = http.post("/Patient", json=patient(), headers=JSON).json()["id"]
        claim = {
            "resourceType": "Claim",
            "status": "draft",
            "type": {"coding": [{"code": "professional"}]},
            "use": "claim",
            "patient": {"reference": f"Patient/{pid}"},
            "created": "2026-12-01",
            "provider": {"display": "Synthetic practice"},
            "priority": {"coding": [{"code": "normal"}]},
            "insurance": [],
            "identifier": [{"value": "PCN-W1"}],
            "item": [
                {
                    "sequence": 1,
                    "productOrService": {"coding": [{"code": "99213"}]},
                    "servicedDate": "2026-12-01",
                    "net": {"value": 125.10, "currency": "USD"},
                }
            ],
        }
        made = http.post("/Claim", json=claim, headers=JSON)
        assert made.status_code == 201, made.text
        refused = http.delete(f"/Patient/{pid}")
        assert refused.status_code == 409
        issue = refused.json()["issue"][0]
        assert issue["diagnostics"] == "the patient has claims"
        assert http.get(f"/Patient/{pid}").status_code == 200
    with server.hub.engine.connect() as conn:
        total = conn.execute(sa.text("SELECT total_charge FROM claims")).scalar_one()
    assert Decimal(str(total)) == Decimal("125.10")


def test_a_failed_write_is_stored_with_its_reason(server: Server) -> None:
    with server.client() as http:
        bad = http.post("/Patient", json=patient(gender="f"), headers=JSON)
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["Patient.gender"]
    with server.hub.engine.connect() as conn:
        row = conn.execute(
            sa.select(messages.c.status, messages.c.last_error_code).where(
                messages.c.protocol == "fhir"
            )
        ).one()
    assert (row.status, row.last_error_code) == (Status.FAILED.value, "invalid_code")


def test_a_replayed_write_applies_the_same_interaction_again(server: Server) -> None:
    with server.client() as http:
        made = http.post(
            "/Patient", json={"resourceType": "Patient", "gender": "male"}, headers=JSON
        )
        assert made.status_code == 201
    hub = server.hub
    with hub.uow() as uow:
        first = uow.conn.execute(sa.select(messages.c.id)).scalar_one()
    list(hub.replay.replay([first], actor="test", reason="replay test"))
    while hub.pipeline.run_next("test") is not None:
        pass
    with hub.engine.connect() as conn:
        status = conn.execute(sa.select(messages.c.status)).scalar_one()
        # the minted key (no identifier: the message id) finds the same row: no duplicate
        patients = conn.execute(sa.text("SELECT count(*) FROM patients")).scalar_one()
    assert (status, patients) == ("processed", 1)


def test_an_edited_write_replays_as_the_update_its_bytes_name(server: Server) -> None:
    with server.client() as http:
        made = http.post("/Patient", json=patient(gender="female"), headers=JSON)
        pid = made.json()["id"]
        refused = http.put(
            f"/Patient/{pid}",
            json=patient(id=pid, gender="F"),  # a typo the analyst will fix
            headers=JSON,
        )
        assert refused.status_code == 400
        hub = server.hub
        with hub.uow() as uow:
            failed = uow.conn.execute(
                sa.select(messages.c.id).where(messages.c.status == "failed")
            ).scalar_one()
        fixed = json.dumps(patient(id=pid, gender="male")).encode()
        revision = hub.replay.replay_edited(failed, fixed, actor="analyst", reason="typo")
        while hub.pipeline.run_next("test") is not None:
            pass
        assert http.get(f"/Patient/{pid}").json()["gender"] == "male"
    with hub.uow() as uow:
        rec = store_get(uow.conn, revision)
    assert (rec.type, rec.status.value) == ("write^Patient", "processed")
