"""JSON Patch of a FHIR resource (hub.services.fhir_patch), hostile patches included: no I/O."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest

from hub.adapters.fhir import outcome
from hub.errors import FhirLocation, HubError
from hub.services.fhir_patch import MAX_OPERATIONS, apply_patch, from_binary, parse_patch

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "7",
    "meta": {"versionId": "2", "lastUpdated": "2026-01-02T03:04:05Z"},
    "name": [{"family": "Patchwork", "given": ["Pat"]}],
    "gender": "female",
}


def refused(ops: Any) -> HubError:
    with pytest.raises(HubError) as caught:
        apply_patch(PATIENT, parse_patch(json.dumps(ops)))
    return caught.value


def where(exc: HubError) -> str:
    assert isinstance(exc.location, FhirLocation)
    return exc.location.expression


def test_a_patch_applies_in_order_and_keeps_the_server_meta() -> None:
    ops = [
        {"op": "test", "path": "/gender", "value": "female"},
        {"op": "replace", "path": "/gender", "value": "male"},
        {"op": "add", "path": "/name/0/given/-", "value": "Quinn"},
        {"op": "add", "path": "/multipleBirthInteger", "value": 2},
        {"op": "add", "path": "/meta/tag", "value": [{"code": "x"}]},
    ]
    done = apply_patch(PATIENT, parse_patch(json.dumps(ops)))
    assert done["gender"] == "male"
    assert done["name"][0]["given"] == ["Pat", "Quinn"]
    assert done["meta"] == PATIENT["meta"]  # versionId and lastUpdated are the server's
    assert PATIENT["gender"] == "female"  # the input is not changed


def test_decimals_stay_exact() -> None:
    ops = parse_patch(b'[{"op": "add", "path": "/x", "value": 0.1}]')
    assert apply_patch(PATIENT, ops)["x"] == Decimal("0.1")


@pytest.mark.parametrize(
    ("ops", "expression"),
    [
        ([{"op": "replace", "path": "/id", "value": "8"}], "Patient.id"),
        ([{"op": "remove", "path": "/id"}], "Patient.id"),
        ([{"op": "replace", "path": "/meta/versionId", "value": "9"}], "Patient.meta.versionId"),
        ([{"op": "remove", "path": "/meta"}], "Patient.meta.versionId"),
        ([{"op": "move", "from": "/resourceType", "path": "/kind"}], "Patient.resourceType"),
        ([{"op": "replace", "path": "/resourceType", "value": "Group"}], "Patient.resourceType"),
        ([{"op": "replace", "path": "", "value": [1]}], "Patient.patch[0]"),
        ([{"op": "remove", "path": "/name/5"}], "Patient.patch[0]"),
        ([{"op": "add", "path": "/name/999999999", "value": {}}], "Patient.patch[0]"),
        ([{"op": "replace", "path": "/nothing", "value": 1}], "Patient.patch[0]"),
        ([{"op": "add", "path": "/gender/x", "value": 1}], "Patient.patch[0]"),
        ([{"op": "add", "path": "gender", "value": 1}], "Patient.patch[0]"),
        (
            [{"op": "test", "path": "/gender", "value": "male"}, {"op": "remove", "path": "/id"}],
            "Patient.patch[0]",
        ),
    ],
)
def test_patches_that_cannot_apply_or_touch_what_the_server_owns(
    ops: list[dict[str, Any]], expression: str
) -> None:
    exc = refused(ops)
    assert where(exc) == expression
    assert outcome.status_for(exc) == 422


def test_a_copy_that_doubles_the_resource_is_stopped() -> None:
    ops = [{"op": "add", "path": "/a", "value": [list(range(50))]}]
    ops += [{"op": "copy", "from": "/a", "path": "/a/-"} for _ in range(40)]
    exc = refused(ops)
    assert exc.code == "too_large"
    assert outcome.status_for(exc) == 413


def test_a_huge_array_added_is_stopped() -> None:
    ops = [{"op": "add", "path": "/huge", "value": list(range(150_000))}]
    exc = refused(ops)
    assert exc.code == "too_large"
    assert where(exc) == "Patient.patch"


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"op": "add"}',
        b'[{"op": "frobnicate", "path": "/a"}]',
        b'[{"op": "add", "path": "/a"}]',
        b'[{"op": "move", "path": "/a"}]',
        b'[{"op": "add", "path": 3, "value": 1}]',
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps([{"op": "remove", "path": "/a"}] * (MAX_OPERATIONS + 1)).encode(),
    ],
)
def test_malformed_patches_are_refused_as_input(raw: bytes) -> None:
    with pytest.raises(HubError) as caught:
        parse_patch(raw)
    assert 400 <= outcome.status_for(caught.value) < 500


def test_a_bundle_patch_is_a_binary_of_json_patch() -> None:
    ops = [{"op": "replace", "path": "/gender", "value": "other"}]
    data = base64.b64encode(json.dumps(ops).encode()).decode()
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data}
    assert from_binary(binary, "Binary") == ops
    for bad, status in (
        ({**binary, "contentType": "application/fhir+json"}, 415),
        ({**binary, "data": "***"}, 400),
        ({"resourceType": "Parameters", "parameter": []}, 415),
        ({"resourceType": "Patient"}, 400),
    ):
        with pytest.raises(HubError) as caught:
            from_binary(bad, "Binary")
        assert outcome.status_for(caught.value) == status
