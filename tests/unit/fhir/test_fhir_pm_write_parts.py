"""The pure parts of the FHIR write path: interactions from URLs, ETags, Prefer, conditional
criteria, errors moved into a Bundle entry and rebuilt from a stored message (no I/O)."""

from __future__ import annotations

import pytest

from hub.adapters.fhir import outcome
from hub.errors import Conflict, FhirLocation, HubError, MappingError, ValidationError
from hub.protocols.fhir.prefer import Prefer, prefer
from hub.services.fhir_bundles import relocate, status_line
from hub.services.fhir_interactions import Interaction, parse_criteria, parse_etag
from hub.services.fhir_stored_errors import stored_error


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("post", "Patient", Interaction("POST", "Patient")),
        ("PUT", "Patient/abc", Interaction("PUT", "Patient", "abc")),
        (
            "PUT",
            "Patient?identifier=s|v",
            Interaction("PUT", "Patient", criteria="identifier=s|v"),
        ),
        ("DELETE", "/Encounter/7/", Interaction("DELETE", "Encounter", "7")),
        ("patch", "Patient/abc", Interaction("PATCH", "Patient", "abc")),
    ],
)
def test_interactions_from_urls(method: str, url: str, expected: Interaction) -> None:
    assert Interaction.from_url(method, url) == expected
    assert Interaction.from_meta(expected.as_meta()) == expected


@pytest.mark.parametrize(
    ("method", "url"), [("GET", "Patient"), ("HEAD", "Patient/1"), ("PUT", "a/b/c")]
)
def test_interactions_the_write_side_does_not_take(method: str, url: str) -> None:
    with pytest.raises(HubError) as caught:
        Interaction.from_url(method, url, where="Bundle.entry[2].request")
    assert isinstance(caught.value.location, FhirLocation)
    assert caught.value.location.expression.startswith("Bundle.entry[2].request")


def test_etags() -> None:
    assert [parse_etag(v) for v in ('W/"3"', '"3"', "3")] == [3, 3, 3]
    with pytest.raises(ValidationError):
        parse_etag('W/"x"')
    with pytest.raises(ValidationError):
        parse_etag("9" * 12)


def test_prefer_reads_return_and_respond_async_and_ignores_the_rest() -> None:
    assert prefer(None) == Prefer()
    assert prefer("return=minimal") == Prefer("minimal")
    assert prefer('respond-async, return="OperationOutcome"') == Prefer("OperationOutcome", True)
    assert prefer("return=everything; handling=strict") == Prefer()


def test_conditional_criteria_are_one_identifier() -> None:
    assert parse_criteria("identifier=urn:x|42", "url") == ("urn:x", "42")
    assert parse_criteria("identifier=42", "url") == (None, "42")
    for bad in ("name=Smith", "identifier=a&identifier=b", "", "identifier="):
        with pytest.raises(HubError) as caught:
            parse_criteria(bad, "If-None-Exist")
        assert caught.value.location == FhirLocation("If-None-Exist")


def test_errors_move_into_their_bundle_entry() -> None:
    moved = relocate(
        ValidationError("bad", code="invalid_code", location=FhirLocation("Patient.gender")), 3
    )
    assert (type(moved), moved.location) == (
        ValidationError,
        FhirLocation("Bundle.entry[3].resource.gender"),
    )
    header = relocate(
        Conflict("stale", code="version_conflict", location=FhirLocation("If-Match")), 0
    )
    assert header.location == FhirLocation("Bundle.entry[0].request.ifMatch")
    bare = relocate(MappingError("nothing", code="unknown_reference"), 1)
    assert bare.location == FhirLocation("Bundle.entry[1]")
    assert status_line(412) == "412 Precondition Failed"


@pytest.mark.parametrize(
    ("code", "status"),
    [("version_conflict", 412), ("in_use", 409), ("unknown_reference", 422), ("invalid_code", 400)],
)
def test_a_stored_error_keeps_its_status_and_expression(code: str, status: int) -> None:
    text = str(ValidationError("why", code=code, location=FhirLocation("Encounter.subject")))
    rebuilt = stored_error(code, text)
    assert outcome.status_for(rebuilt) == status
    assert rebuilt.message == "why"
    assert rebuilt.location == FhirLocation("Encounter.subject")
