"""Each error class maps to one HTTP status, in one place (hub/api/problems.py)."""

from __future__ import annotations

import json

import pytest

from hub.api.problems import hub_error_response, status_for
from hub.errors import (
    Conflict,
    Forbidden,
    Hl7Location,
    HubError,
    MappingError,
    NotFound,
    ParseError,
    StoreUnavailable,
    Unauthorized,
    ValidationError,
)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (Unauthorized("x"), 401),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (ValidationError("x"), 422),
        (MappingError("x"), 422),
        (ParseError("x"), 400),
        (StoreUnavailable("x"), 503),
        (HubError("x"), 400),
    ],
)
def test_status_for(exc: HubError, status: int) -> None:
    assert status_for(exc) == status


def test_problem_body() -> None:
    r = hub_error_response(
        ValidationError("PID-3 is required", code="required", location=Hl7Location("PID", field=3))
    )
    assert r.media_type == "application/problem+json"
    body = json.loads(bytes(r.body))
    assert body == {
        "type": "about:blank",
        "title": "ValidationError",
        "status": 422,
        "detail": "PID-3 is required",
        "code": "required",
        "location": "PID-3",
    }


def test_401_asks_for_a_bearer_token() -> None:
    assert hub_error_response(Unauthorized("no token")).headers["www-authenticate"] == "Bearer"
