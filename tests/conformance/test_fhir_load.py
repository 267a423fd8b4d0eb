"""The FHIR corpus through ``hub conformance run`` (issue 11 item 9): the supported types of the
specification examples and of the Synthea data load into the PM through the REST API and read
back equal for the fields the PM keeps; every HL7 v2 sample converts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli.conformance_cmd import fresh_api
from hub.protocols.fhir.conformance import KEPT, FhirConformance, load_case
from hub.services.conformance import corpus_root

CORPUS = corpus_root() / "fhir"


@pytest.mark.parametrize("folder", ["r4-spec", "synthea-bulk-10"])
def test_supported_types_load_and_read_back(folder: str) -> None:
    result = load_case(CORPUS / folder, fresh_api)
    assert result.passed, result.detail
    loaded = result.outcome["loaded"]
    assert {"Patient", "Practitioner", "Organization", "Location"} <= set(loaded), loaded
    if folder == "synthea-bulk-10":  # every Synthea resource of a PM type loads
        assert sum(loaded.values()) == 143
    else:  # and the spec's scheduling and visits too
        assert {"Appointment", "Encounter"} <= set(loaded)


def test_the_projection_sees_what_the_pm_keeps() -> None:
    written = {"resourceType": "Patient", "birthDate": "1974-12-25", "gender": "male"}
    assert KEPT["Patient"](written) != KEPT["Patient"]({**written, "birthDate": "1974-12-24"})
    assert KEPT["Appointment"]({"status": "proposed"}) == KEPT["Appointment"]({"status": "booked"})
    assert KEPT["Appointment"]({"status": "noshow"}) != KEPT["Appointment"]({"status": "booked"})


def test_the_cli_runner_covers_fhir(tmp_path: Path) -> None:
    results = FhirConformance().run_corpus(CORPUS, fresh_api=fresh_api, only="convert")
    assert [r.case.name for r in results] == ["convert-hl7v2"]
    assert results[0].passed, results[0].detail
