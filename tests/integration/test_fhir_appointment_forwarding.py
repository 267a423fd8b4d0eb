"""A FHIR Appointment write tells the other EHRs as an HL7 v2 SIU does (issue 7, item 5: PM
changes emit domain events, whatever channel made them): booked, moved and cancelled are
forwarded as SIU S12, S13 and S15 to every MLLP destination except the writer's own source
system; a write that changes nothing and a no-show announce nothing. Synthetic data only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from support.fhir_write_server import Server, serve

from hub.adapters.hl7v2.tokenizer import parse
from hub.config import Settings
from hub.services.deliver import DeliveryAdmin
from hub.store.tables import messages, outbox

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/fhir+json"}
SOURCE = "urn:oid:2.16.840.1.113883.3.999.1"  # the writing EHR's appointment id system


@pytest.fixture
def server(any_db_settings: Settings, make_hub: HubFactory) -> Iterator[Server]:
    hub = make_hub(any_db_settings)
    admin = DeliveryAdmin(uow=hub.uow, clock=hub.clock)
    admin.add_destination("writer", kind="mllp", address="127.0.0.1:9", facility=SOURCE)
    admin.add_destination("south", kind="mllp", address="127.0.0.1:9", facility="SOUTHCLINIC")
    with serve(hub, free_port) as srv:
        yield srv


def appointment(pid: str, **extra: object) -> dict[str, object]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "identifier": [{"system": SOURCE, "value": "FA-1"}],
        "start": "2026-12-10T09:00:00Z",
        "end": "2026-12-10T09:30:00Z",
        "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}],
        **extra,
    }


def forwarded(server: Server) -> list[tuple[str, str, str]]:
    """(receiver, type, SCH-2) of every outbound message, after the relay has run."""
    server.hub.outbox.run_until_idle()
    with server.hub.uow() as uow:
        rows = uow.conn.execute(
            sa.select(messages.c.receiver, messages.c.type, messages.c.raw)
            .where(messages.c.direction == "out")
            .order_by(messages.c.id)
        ).all()
    return [(r.receiver, r.type, parse(r.raw).get("SCH-2")) for r in rows]


def events(server: Server) -> list[str]:
    with server.hub.uow() as uow:
        return list(uow.conn.execute(sa.select(outbox.c.event).order_by(outbox.c.id)).scalars())


def test_fhir_appointment_writes_are_forwarded_as_siu(server: Server) -> None:
    with server.client() as http:
        made = http.post(
            "/Patient",
            json={
                "resourceType": "Patient",
                "identifier": [{"system": "urn:hub:mrn:NORTHCLINIC", "value": "FA-P1"}],
                "name": [{"family": "Forwardtest", "given": ["Fay"]}],
                "birthDate": "1984-03-04",
            },
            headers=JSON,
        )
        assert made.status_code == 201, made.text
        pid = made.json()["id"]
        booked = http.post("/Appointment", json=appointment(pid), headers=JSON)
        assert booked.status_code == 201, booked.text
        aid = booked.json()["id"]
        assert forwarded(server) == [("south", "SIU^S12", "FA-1")]

        # the same state again: nothing new to tell
        same = http.put(f"/Appointment/{aid}", json=appointment(pid, id=aid), headers=JSON)
        assert same.status_code == 200, same.text
        assert len(forwarded(server)) == 1

        moved = appointment(pid, id=aid, start="2026-12-11T14:00:00Z", end="2026-12-11T14:30:00Z")
        assert http.put(f"/Appointment/{aid}", json=moved, headers=JSON).status_code == 200
        assert forwarded(server)[1:] == [("south", "SIU^S13", "FA-1")]

        gone = {**moved, "status": "cancelled"}
        assert http.put(f"/Appointment/{aid}", json=gone, headers=JSON).status_code == 200
        assert forwarded(server)[2:] == [("south", "SIU^S15", "FA-1")]

        # cancelled twice is still one cancellation
        assert http.put(f"/Appointment/{aid}", json=gone, headers=JSON).status_code == 200
        assert len(forwarded(server)) == 3
    assert events(server) == [
        "AppointmentBooked",
        "AppointmentRescheduled",
        "AppointmentCancelled",
    ]


def test_a_no_show_and_a_fulfilled_visit_are_not_announced(server: Server) -> None:
    with server.client() as http:
        pid = http.post(
            "/Patient",
            json={
                "resourceType": "Patient",
                "identifier": [{"system": "urn:hub:mrn:NORTHCLINIC", "value": "FA-P2"}],
                "name": [{"family": "Forwardtest", "given": ["Noel"]}],
            },
            headers=JSON,
        ).json()["id"]
        aid = http.post("/Appointment", json=appointment(pid), headers=JSON).json()["id"]
        for status in ("noshow", "fulfilled"):
            sent = http.put(
                f"/Appointment/{aid}", json=appointment(pid, id=aid, status=status), headers=JSON
            )
            assert sent.status_code == 200, sent.text
    assert forwarded(server) == [("south", "SIU^S12", "FA-1")]
    assert events(server) == ["AppointmentBooked"]


def test_a_patch_that_cancels_an_appointment_sends_s15(server: Server) -> None:
    """A JSON Patch is a write like any other: the cancellation it makes is announced."""
    with server.client() as http:
        pid = http.post(
            "/Patient",
            json={
                "resourceType": "Patient",
                "identifier": [{"system": "urn:hub:mrn:NORTHCLINIC", "value": "FA-P3"}],
                "name": [{"family": "Forwardtest", "given": ["Pat"]}],
            },
            headers=JSON,
        ).json()["id"]
        aid = http.post("/Appointment", json=appointment(pid), headers=JSON).json()["id"]
        cancel = http.patch(
            f"/Appointment/{aid}",
            content=b'[{"op": "replace", "path": "/status", "value": "cancelled"}]',
            headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'},
        )
        assert cancel.status_code == 200, cancel.text
    assert forwarded(server) == [("south", "SIU^S12", "FA-1"), ("south", "SIU^S15", "FA-1")]
