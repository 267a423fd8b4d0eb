"""OperationOutcome: each error's code, severity, text and FHIRPath expression, and its status."""

from __future__ import annotations

import pytest

from hub.adapters.fhir import models, outcome
from hub.errors import (
    Conflict,
    FhirLocation,
    Forbidden,
    HubError,
    MappingError,
    NotFound,
    ParseError,
    Severity,
    StoreUnavailable,
    Unauthorized,
    ValidationError,
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ParseError("bad"), 400, "structure"),
        (ParseError("dtd", code="xml_dtd"), 400, "security"),
        (ValidationError("bad"), 400, "invalid"),
        (ValidationError("x", code="unknown_element"), 400, "structure"),
        (MappingError("no"), 422, "business-rule"),
        (NotFound("gone"), 404, "not-found"),
        (NotFound("no type", code="unknown_type"), 404, "not-supported"),
        (Conflict("busy"), 409, "conflict"),
        (Unauthorized("who"), 401, "login"),
        (Forbidden("no"), 403, "forbidden"),
        (StoreUnavailable("down"), 503, "transient"),
        (HubError("odd", code="internal"), 500, "exception"),
    ],
)
def test_status_and_issue_type(error: HubError, status: int, code: str) -> None:
    assert outcome.status_for(error) == status
    body = outcome.from_error(error)
    assert body["issue"][0]["code"] == code
    assert models.validate(body) == []


def test_expression_severity_and_details() -> None:
    err = ValidationError(
        "not a date",
        code="invalid",
        location=FhirLocation("Patient.birthDate"),
        severity=Severity.WARNING,
    )
    assert outcome.from_error(err) == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "invalid",
                "details": {"text": "invalid"},
                "diagnostics": "not a date",
                "expression": ["Patient.birthDate"],
            }
        ],
    }
    assert outcome.operation_outcome([])["issue"] == [
        {"severity": "information", "code": "informational"}
    ]
