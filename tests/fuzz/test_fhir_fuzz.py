"""Property tests for the FHIR intake (issue 9 item 3): any JSON or XML body gives a resource
or a hub error (an OperationOutcome over HTTP, never a 500); a resource written as JSON reads
back equal, and a valid one written as XML too; long values are read whole. All data
synthetic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fuzz_budget import FUZZ, FUZZ_APP
from hypothesis import given
from hypothesis import strategies as st

from fuzz import targets
from fuzz.seeds import seeds
from fuzz.strategies import fhir_resources, json_values, raw_inputs
from hub.adapters.fhir import formats, models
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.config import Settings
from hub.errors import HubError
from hub.store import keys
from hub.store.keys import Role

JSON_SEEDS = list(seeds("fhir_json"))
XML_SEEDS = list(seeds("fhir_xml"))


@FUZZ
@given(raw_inputs(JSON_SEEDS))
def test_any_json_body_gives_a_resource_or_a_hub_error(data: bytes) -> None:
    targets.fhir_json(data)


@FUZZ
@given(raw_inputs(XML_SEEDS))
def test_any_xml_body_gives_a_resource_or_a_hub_error(data: bytes) -> None:
    targets.fhir_xml(data)


@FUZZ
@given(json_values())
def test_any_json_value_in_a_resource_is_read_or_refused(value: Any) -> None:
    # unpaired surrogate escapes, huge and negative numbers, deep lists, odd keys
    body = {"resourceType": "Patient", "name": [{"family": value}], "extension": value}
    targets.fhir_json(json.dumps(body).encode())


@FUZZ
@given(fhir_resources())
def test_a_resource_written_as_json_reads_back_equal(resource: dict[str, Any]) -> None:
    written = formats.dump_json(resource)
    assert formats.parse_json(written) == resource
    # and through the whole target: the checks, the ingest answer, XML when it is valid
    targets.fhir_json(written)


def test_long_values_are_read_whole() -> None:
    family = "Ab" * 500_000
    resource = {"resourceType": "Patient", "name": [{"family": family, "given": ["C"] * 10_000}]}
    for raw, fmt in (
        (formats.dump_json(resource), "json"),
        (formats.dump_xml(resource), "xml"),
    ):
        read = formats.parse_json(raw) if fmt == "json" else formats.parse_xml(raw)
        assert read == resource
        assert models.validate(read) == []


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture
def api(make_hub: Any, sqlite_settings: Settings) -> Iterator[TestClient]:
    hub: Hub = make_hub(sqlite_settings)
    with hub.uow() as uow:
        _, token = keys.create(uow.conn, name="fuzz", role=Role.ADMIN, now=hub.clock.now())
        uow.commit()
    with TestClient(create_app(hub), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _bodies() -> st.SearchStrategy[tuple[bytes, str]]:
    json_body = raw_inputs(JSON_SEEDS).map(lambda b: (b, "application/fhir+json"))
    xml_body = raw_inputs(XML_SEEDS).map(lambda b: (b, "application/fhir+xml"))
    made = fhir_resources().map(lambda r: (formats.dump_json(r), "application/fhir+json"))
    return st.one_of(json_body, xml_body, made)


def _answered(response: Any) -> None:
    assert response.status_code < 500, response.text[:200]
    if response.status_code >= 400:
        try:
            answer = formats.parse_json(response.content)
        except HubError:
            answer = formats.parse_xml(response.content)
        assert answer["resourceType"] == "OperationOutcome"


def test_any_body_posted_is_answered_without_a_server_error(api: TestClient) -> None:
    @FUZZ_APP
    @given(_bodies(), st.sampled_from(["Patient", "Coverage", "Appointment"]))
    def post(case: tuple[bytes, str], type_name: str) -> None:
        body, content_type = case
        headers = {"Content-Type": content_type}
        _answered(api.post(f"/fhir/{type_name}/$validate", content=body, headers=headers))
        _answered(api.post(f"/fhir/{type_name}", content=body, headers=headers))

    post()


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (
            "/fhir/Patient/$validate",
            b'{"resourceType":"Patient","contained":[{"resourceType":"X"}]}',
        ),
        ("/fhir/Patient", b'{"resourceType":"Patient","contained":[{"resourceType":"X"}]}'),
        (
            "/fhir",
            b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST",'
            b'"url":"Patient"},"resource":{"resourceType":"Patient","contained":'
            b'[{"resourceType":"X"}]}}]}',
        ),
        ("/fhir/Patient", b'{"resourceType":"Patient","name":[{"family":"A\\u001fB"}]}'),
    ],
    ids=["validate-contained", "create-contained", "transaction-contained", "control-character"],
)
def test_found_by_fuzzing_answered_400_not_500(api: TestClient, url: str, body: bytes) -> None:
    # an inner resource of an unknown type was a KeyError out of fhir.resources; a control
    # character reached lxml's XML writer: both answered 500 before
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+xml"}
    response = api.post(url, content=body, headers=headers)
    assert response.status_code == 400, response.text[:300]
    assert formats.parse_xml(response.content)["resourceType"] == "OperationOutcome"
