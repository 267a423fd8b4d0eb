"""Concurrent conditional creates never make duplicates (issue 11, item 2), on SQLite and
PostgreSQL: many clients fire ``POST`` with the same ``If-None-Exist`` at a real server at
once, and exactly one resource exists afterwards; every client is told about that one.

Two layers keep it so: the writes share the identifier's lane (so they apply in order and the
later ones match the first), and the (type, system, value) primary key of ``fhir_identifiers``
refuses a second binding even to writes that took different lanes (tested on the store)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from support.fhir_write_server import Server, serve

from hub.config import Settings
from hub.errors import HubError
from hub.store import fhir_identity

pytestmark = pytest.mark.integration
CLIENTS = 12
CRITERIA = "identifier=urn:hub:mrn:RACECLINIC|R-1"
JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def server(any_db_settings: Settings, make_hub: HubFactory) -> Iterator[Server]:
    hub = make_hub(any_db_settings, dispatcher=None)
    hub.start_background()
    with serve(hub, free_port) as srv:
        yield srv


def test_concurrent_conditional_creates_leave_one_patient(server: Server) -> None:
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:hub:mrn:RACECLINIC", "value": "R-1"}],
        "name": [{"family": "Racetest"}],
    }
    start = threading.Barrier(CLIENTS)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def client() -> None:
        with server.client() as http:  # one connection per client
            start.wait()
            got = http.post("/Patient", json=body, headers={**JSON, "If-None-Exist": CRITERIA})
        with lock:
            answers.append(got)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == CLIENTS
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {200, 201}, [a.text for a in answers if a.status_code >= 300]
    assert len({a.json()["id"] for a in answers}) == 1
    with server.hub.engine.connect() as conn:
        patients = conn.execute(sa.text("SELECT count(*) FROM patients")).scalar_one()
        bound = conn.execute(sa.text("SELECT count(*) FROM fhir_identifiers")).scalar_one()
    assert (patients, bound) == (1, 1)


def test_the_store_binds_an_identifier_once_however_transactions_race(server: Server) -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def bind(entity: int) -> None:
        start.wait()
        try:
            with server.hub.uow() as uow:
                fhir_identity.bind_identifiers(
                    uow.conn, "Organization", entity, [("urn:payer", "P-RACE")], now
                )
                uow.commit()
            outcomes.append("bound")
        except HubError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=bind, args=(n,)) for n in (101, 102)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["bound", "duplicate_identifier"]
    with server.hub.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT entity_id FROM fhir_identifiers")).all()
    assert len(rows) == 1


def test_a_plain_create_never_lands_on_an_existing_patient(server: Server) -> None:
    """The PM keys a patient by facility + MRN: a second POST with the same MRN is refused
    (409) instead of silently updating the first; a conditional create finds the patient an
    HL7 v2 ADT made."""
    from support.hl7_messages import adt

    hub = server.hub
    hub.receiver("hl7v2").handle(adt("C-RACE", mrn="M-HL7"))
    wait_until_processed(server)
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:hub:mrn:NORTHCLINIC", "value": "M-HL7"}],
    }
    with server.client() as http:
        again = http.post("/Patient", json=body, headers=JSON)
        found = http.post(
            "/Patient",
            json=body,
            headers={**JSON, "If-None-Exist": "identifier=urn:hub:mrn:NORTHCLINIC|M-HL7"},
        )
    assert again.status_code == 409, again.text
    assert found.status_code == 200
    assert found.json()["name"][0]["family"] == "Testperson"  # the ADT's PID-5


def wait_until_processed(server: Server) -> None:
    from support.ordering import wait_until

    def done() -> bool:
        with server.hub.engine.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM messages WHERE status <> 'processed'")
            ).scalar_one()
        return left == 0

    wait_until(done, timeout=30, what="the ADT to be processed")
