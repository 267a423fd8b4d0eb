"""A third-party FHIR client (``fhirclient``, SMART on FHIR's Python client) creates, updates
and reads back every type the PM takes, against a real server on loopback (issue 11: "a
newcomer's FHIR client can create, search, update and read back each type")."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from conftest import HubFactory, free_port
from fhirclient.models.appointment import Appointment
from fhirclient.models.claim import Claim
from fhirclient.models.coverage import Coverage
from fhirclient.models.encounter import Encounter
from fhirclient.models.location import Location
from fhirclient.models.organization import Organization
from fhirclient.models.patient import Patient
from fhirclient.models.practitioner import Practitioner
from fhirclient.server import FHIRServer
from support.fhir_write_server import Server, serve

from hub.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def server(any_db_settings: Settings, make_hub: HubFactory) -> Iterator[Server]:
    hub = make_hub(any_db_settings)
    with serve(hub, free_port) as srv:
        yield srv


@pytest.fixture
def fhir(server: Server) -> FHIRServer:
    client = FHIRServer(None, base_uri=server.base)
    client.session.headers["Authorization"] = f"Bearer {server.token}"
    return client


def create(model: Any, fhir: FHIRServer) -> str:
    made = model.create(fhir)
    assert made is not None and made["id"]
    return str(made["id"])


def test_a_fhir_client_creates_updates_and_reads_back_each_type(  # noqa: PLR0915
    fhir: FHIRServer,
) -> None:
    org = Organization(
        {
            "resourceType": "Organization",
            "identifier": [{"system": "urn:payer", "value": "PAY-FC"}],
            "type": [{"coding": [{"code": "pay"}]}],
            "name": "Synthetic Mutual",
        }
    )
    org_id = create(org, fhir)
    doc_id = create(
        Practitioner(
            {
                "resourceType": "Practitioner",
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
                "name": [{"family": "Clientdoc", "given": ["Casey"]}],
            }
        ),
        fhir,
    )
    room_id = create(
        Location(
            {
                "resourceType": "Location",
                "identifier": [{"system": "NORTHCLINIC", "value": "ROOM-FC"}],
                "name": "Room FC",
            }
        ),
        fhir,
    )
    pat = Patient(
        {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:hub:mrn:NORTHCLINIC", "value": "FC-1"}],
            "name": [{"family": "Clienttest", "given": ["Cleo"]}],
            "gender": "female",
            "birthDate": "1985-05-06",
            "telecom": [{"system": "phone", "value": "555-0101", "use": "home"}],
        }
    )
    pid = create(pat, fhir)
    subject = {"reference": f"Patient/{pid}"}
    cov_id = create(
        Coverage(
            {
                "resourceType": "Coverage",
                "status": "active",
                "beneficiary": subject,
                "payor": [{"reference": f"Organization/{org_id}"}],
                "identifier": [{"value": "MEM-FC"}],
            }
        ),
        fhir,
    )
    enc_id = create(
        Encounter(
            {
                "resourceType": "Encounter",
                "status": "in-progress",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "identifier": [{"value": "V-FC"}],
                "subject": subject,
                "participant": [{"individual": {"reference": f"Practitioner/{doc_id}"}}],
                "location": [{"location": {"reference": f"Location/{room_id}"}}],
                "period": {"start": "2026-12-01T09:00:00Z"},
            }
        ),
        fhir,
    )
    appt_id = create(
        Appointment(
            {
                "resourceType": "Appointment",
                "status": "booked",
                "identifier": [{"system": "urn:ehr", "value": "APPT-FC"}],
                "start": "2026-12-03T10:00:00Z",
                "end": "2026-12-03T10:20:00Z",
                "participant": [
                    {"actor": subject, "status": "accepted"},
                    {"actor": {"reference": f"Practitioner/{doc_id}"}, "status": "accepted"},
                ],
            }
        ),
        fhir,
    )
    claim_id = create(
        Claim(
            {
                "resourceType": "Claim",
                "status": "active",
                "type": {"coding": [{"code": "professional"}]},
                "use": "claim",
                "patient": subject,
                "created": "2026-12-01",
                "provider": {"reference": f"Practitioner/{doc_id}"},
                "priority": {"coding": [{"code": "normal"}]},
                "identifier": [{"value": "PCN-FC"}],
                "insurance": [
                    {"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/{cov_id}"}}
                ],
                "item": [
                    {
                        "sequence": 1,
                        "productOrService": {"coding": [{"code": "99213"}]},
                        "servicedDate": "2026-12-01",
                        "net": {"value": 125.25, "currency": "USD"},
                        "encounter": [{"reference": f"Encounter/{enc_id}"}],
                    }
                ],
            }
        ),
        fhir,
    )

    # read each back through the client
    got = Patient.read(pid, fhir)
    assert (got.name[0].family, got.gender, got.birthDate.isostring) == (
        "Clienttest",
        "female",
        "1985-05-06",
    )
    assert Organization.read(org_id, fhir).name == "Synthetic Mutual"
    assert Practitioner.read(doc_id, fhir).name[0].family == "Clientdoc"
    assert Location.read(room_id, fhir).name == "Room FC"
    assert Coverage.read(cov_id, fhir).beneficiary.reference.endswith(f"Patient/{pid}")
    assert Encounter.read(enc_id, fhir).status == "in-progress"
    assert Appointment.read(appt_id, fhir).status == "booked"
    claim = Claim.read(claim_id, fhir)
    assert Decimal(str(claim.total.value if claim.total else claim.item[0].net.value)) == Decimal(
        "125.25"
    )

    # update each through the client and read the change back
    got.gender = "other"
    got.update(fhir)
    assert Patient.read(pid, fhir).gender == "other"
    org_back = Organization.read(org_id, fhir)
    org_back.name = "Synthetic Mutual Two"
    org_back.update(fhir)
    assert Organization.read(org_id, fhir).name == "Synthetic Mutual Two"
    doc = Practitioner.read(doc_id, fhir)
    doc.name[0].family = "Clientdoc-Renamed"
    doc.update(fhir)
    assert Practitioner.read(doc_id, fhir).name[0].family == "Clientdoc-Renamed"
    room = Location.read(room_id, fhir)
    room.name = "Room FC East"
    room.update(fhir)
    assert Location.read(room_id, fhir).name == "Room FC East"
    enc = Encounter.read(enc_id, fhir)
    enc.status = "finished"
    enc.update(fhir)
    assert Encounter.read(enc_id, fhir).status == "finished"
    appt = Appointment.read(appt_id, fhir)
    appt.status = "cancelled"
    appt.update(fhir)
    assert Appointment.read(appt_id, fhir).status == "cancelled"
    cov = Coverage.read(cov_id, fhir)
    cov.status = "cancelled"
    cov.update(fhir)
    assert Coverage.read(cov_id, fhir).status == "cancelled"
    claim.item[0].net.value = 130.05
    claim.update(fhir)
    again = Claim.read(claim_id, fhir)
    assert Decimal(str(again.item[0].net.value)) == Decimal("130.05")
