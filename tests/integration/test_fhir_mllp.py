"""An ADT and a DFT sent over real MLLP, processed by the embedded workers, read back over FHIR
as Patient (every identifier and telecom) and Encounter (issue 11: "an ADT sent over MLLP reads
back as Patient and Encounter")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import HubFactory, free_port
from fastapi.testclient import TestClient
from fhir_read_support import adt_full, dft_charge
from test_api_support import bearer, token
from test_hl7v2_mllp_e2e import Conn, Listener, wait_processed

from hub.adapters.fhir import formats
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.config import Settings
from hub.store.keys import Role

pytestmark = pytest.mark.integration


@pytest.fixture
def live_hub(make_hub: HubFactory, any_db_settings: Settings) -> Iterator[Hub]:
    settings = any_db_settings.model_copy(update={"mllp_port": free_port(), "workers": 2})
    hub = make_hub(settings, dispatcher=None)  # the real wake-up dispatcher and workers
    hub.start_background()
    with Listener(hub):
        yield hub


def test_adt_and_dft_over_mllp_read_back_as_patient_and_encounter(live_hub: Hub) -> None:
    conn = Conn(live_hub.settings.mllp_port)
    try:
        assert b"MSA|AA|M1" in conn.send(adt_full("M1", mrn="ML1"))
        assert b"MSA|AA|M2" in conn.send(dft_charge("M2", mrn="ML1"))
    finally:
        conn.close()
    wait_processed(live_hub, 2)
    with TestClient(create_app(live_hub)) as api:
        api.headers.update(bearer(token(live_hub, Role.READER)))

        def found(query: str) -> list[dict[str, Any]]:
            bundle = formats.parse_json(api.get(f"/fhir/{query}").content)
            return [e["resource"] for e in bundle.get("entry", [])]

        (patient,) = found("Patient?identifier=urn:hub:mrn:NORTHCLINIC|ML1")
        assert {i["value"] for i in patient["identifier"]} == {"ML1", "XZ7788"}
        assert len(patient["telecom"]) == 2
        (encounter,) = found(f"Encounter?patient=Patient/{patient['id']}")
        assert encounter["identifier"] == [{"system": "urn:hub:visit-number", "value": "V900"}]
        assert encounter["subject"] == {"reference": f"Patient/{patient['id']}"}
