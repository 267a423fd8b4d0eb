"""A newcomer's FHIR client against a real server: SMART on FHIR's ``fhirclient`` (its own R4
models parse every answer) and ``fhir.resources`` with ``httpx``, over uvicorn on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from conftest import HubFactory, free_port
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient as R4BPatient
from fhir_read_support import adt_full, bill, dft_charge, send_hl7, siu_booked
from fhirclient import client as smart_client
from fhirclient.models.appointment import Appointment
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.encounter import Encounter
from fhirclient.models.explanationofbenefit import ExplanationOfBenefit
from fhirclient.models.patient import Patient
from support.ordering import wait_until
from test_api_support import token

from hub.api.app import create_app
from hub.api.server import uvicorn_config
from hub.bootstrap import Hub
from hub.config import Settings
from hub.store.keys import Role

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(make_hub: HubFactory, any_db_settings: Settings) -> Hub:
    hub = make_hub(any_db_settings)
    send_hl7(hub, adt_full("A1"))
    send_hl7(hub, siu_booked("S1"))
    send_hl7(hub, dft_charge("D1"))
    bill(hub)
    return hub


@pytest.fixture
def base(hub: Hub) -> Iterator[str]:
    port = free_port()
    srv = uvicorn.Server(uvicorn_config(create_app(hub), hub.settings, port=port))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, timeout=10, what="uvicorn to start")
    yield f"http://127.0.0.1:{port}/fhir"
    srv.should_exit = True
    thread.join(10)


def test_fhirclient_reads_and_searches(hub: Hub, base: str) -> None:
    smart = smart_client.FHIRClient(settings={"app_id": "hub-test", "api_base": base + "/"})
    server = smart.server
    # the public CapabilityStatement, parsed by the client's own R4 model
    statement = CapabilityStatement.read_from("metadata", server)
    assert statement.fhirVersion == "4.0.1"
    served = {r.type for r in statement.rest[0].resource}
    assert {"Patient", "Appointment", "Encounter", "ExplanationOfBenefit"} <= served
    server.session.headers["Authorization"] = f"Bearer {token(hub, Role.READER)}"
    found = list(
        Patient.where(struct={"identifier": "urn:hub:mrn:NORTHCLINIC|M900"}).perform_resources_iter(
            server
        )
    )
    assert len(found) == 1
    patient = Patient.read(found[0].id, server)
    assert patient.name[0].family == "Quillfeather"
    assert {t.value for t in patient.telecom} == {"(555)555-0101", "rowan@example.test"}
    appointments = list(
        Appointment.where(struct={"patient": patient.id}).perform_resources_iter(server)
    )
    assert [a.status for a in appointments] == ["booked"]
    encounters = Encounter.where(
        struct={"subject": f"Patient/{patient.id}"}
    ).perform_resources_iter(server)
    assert [e.identifier[0].value for e in encounters] == ["V900"]
    eobs = list(
        ExplanationOfBenefit.where(struct={"patient": patient.id}).perform_resources_iter(server)
    )
    assert eobs[0].payment.amount.value == pytest.approx(120.09)


def test_fhir_resources_and_httpx_json_and_xml(hub: Hub, base: str) -> None:
    headers = {"Authorization": f"Bearer {token(hub, Role.READER)}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        r = http.get("/Patient", params={"family": "quill"})
        assert r.status_code == 200
        bundle = Bundle.model_validate_json(r.content)
        assert bundle.total == 1
        pid = bundle.entry[0].resource.id
        as_json = R4BPatient.model_validate_json(http.get(f"/Patient/{pid}").content)
        x = http.get(f"/Patient/{pid}", headers={"Accept": "application/fhir+xml"})
        assert x.headers["content-type"].startswith("application/fhir+xml")
        as_xml = R4BPatient.model_validate_xml(x.content)
        assert as_xml.model_dump() == as_json.model_dump()
        missing = http.get("/Patient/424242")
        assert missing.status_code == 404
        assert missing.json()["resourceType"] == "OperationOutcome"
