"""FHIR search parameters into neutral PM queries (no database): value syntax, date precision
and prefixes, identifiers and their systems, references, status vocabularies, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.errors import FhirLocation, HubError, ValidationError
from hub.pm.queries import Criterion, DateRange, Field, IdentifierValue, Kind, Op, Sort
from hub.protocols.fhir.search_params import MAX_COUNT, date_range, parse


def q(type_name: str, kind: Kind, query: str, includes: tuple[str, ...] = ()) -> object:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return parse(type_name, kind, pairs, includes_allowed=includes)  # type: ignore[arg-type]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2024", utc(2024, 1, 1), utc(2025, 1, 1)),
        ("2024-12", utc(2024, 12, 1), utc(2025, 1, 1)),
        ("2024-02", utc(2024, 2, 1), utc(2024, 3, 1)),
        ("2024-02-29", utc(2024, 2, 29), utc(2024, 3, 1)),
        ("2024-02-29T10:15", utc(2024, 2, 29, 10, 15), utc(2024, 2, 29, 10, 16)),
        ("2024-02-29T10:15:30Z", utc(2024, 2, 29, 10, 15, 30), utc(2024, 2, 29, 10, 15, 31)),
    ],
)
def test_a_date_is_the_range_of_its_precision(text: str, start: datetime, end: datetime) -> None:
    assert date_range(text, "date") == DateRange(start, end)


@pytest.mark.parametrize(
    "text", ["2023-02-29", "2024-13", "24", "2024-1-1", "soon", "2024-01-01T25:00"]
)
def test_bad_dates_name_the_parameter(text: str) -> None:
    with pytest.raises(ValidationError) as err:
        date_range(text, "birthdate")
    assert err.value.location == FhirLocation("birthdate")
    assert err.value.code == "invalid_parameter"


def test_prefixes_and_repeated_date_parameters() -> None:
    parsed = q("Appointment", Kind.APPOINTMENT, "date=ge2026-03-01&date=lt2026-04")
    assert parsed.query.criteria == (  # type: ignore[attr-defined]
        Criterion(Field.DATE, Op.GE, (DateRange(utc(2026, 3, 1), utc(2026, 3, 2)),)),
        Criterion(Field.DATE, Op.LT, (DateRange(utc(2026, 4, 1), utc(2026, 5, 1)),)),
    )


def test_identifier_token_forms() -> None:
    parsed = q(
        "Patient",
        Kind.PATIENT,
        "identifier=urn:hub:mrn:NORTH%20CLINIC|M1,urn:oid:1.2.3|X,http://hl7.org/fhir/sid/us-npi|9,B",
    )
    (crit,) = parsed.query.criteria  # type: ignore[attr-defined]
    assert crit.values == (
        IdentifierValue("M1", "mrn:NORTH CLINIC"),
        IdentifierValue("X", "1.2.3"),
        IdentifierValue("9", "npi"),
        IdentifierValue("B", None),
    )


def test_status_codes_go_through_the_vocabulary() -> None:
    appt = q("Appointment", Kind.APPOINTMENT, "status=entered-in-error")
    assert appt.query.criteria[0].values == ("deleted",)  # type: ignore[attr-defined]
    unknown = q("Appointment", Kind.APPOINTMENT, "status=bogus")
    assert unknown.query.criteria[0].values == (-1,)  # matches nothing, is not an error
    claim = q("Claim", Kind.CLAIM, "status=draft")
    assert claim.query.criteria[0].values == ("draft",)  # type: ignore[attr-defined]


def test_references_and_their_types() -> None:
    parsed = q("Encounter", Kind.ENCOUNTER, "subject=Patient/7&practitioner=3")
    assert parsed.query.criteria == (  # type: ignore[attr-defined]
        Criterion(Field.PATIENT, Op.EQ, (7,)),
        Criterion(Field.PROVIDER, Op.EQ, (3,)),
    )
    with pytest.raises(ValidationError):
        q("Encounter", Kind.ENCOUNTER, "subject=Device/7")
    odd = q("Encounter", Kind.ENCOUNTER, "subject=Patient/abc")
    assert odd.query.criteria[0].values == (-1,)  # type: ignore[attr-defined]


def test_paging_sorting_and_unknowns() -> None:
    parsed = q(
        "Patient",
        Kind.PATIENT,
        "_count=5000&_offset=40&_sort=-birthdate,_id&name:exact=X&_include=Patient:organization&family=",
    )
    query = parsed.query  # type: ignore[attr-defined]
    assert (query.count, query.offset) == (MAX_COUNT, 40)
    assert query.sort == (Sort(Field.BIRTH_DATE, True), Sort(Field.ID, False))
    assert query.criteria == ()  # an empty parameter is no criterion
    assert parsed.ignored == ["name:exact", "_include=Patient:organization"]  # type: ignore[attr-defined]
    count_only = q("Patient", Kind.PATIENT, "_summary=count")
    assert (count_only.query.count, count_only.query.with_total) == (0, True)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "query",
    ["_count=-1", "_count=ten", "_sort=shoe", "family=" + ",".join("a" * 51)],
)
def test_refused_controls(query: str) -> None:
    with pytest.raises(HubError):
        q("Patient", Kind.PATIENT, query)


def test_slot_search_keeps_to_appointments_with_a_start_and_a_practitioner() -> None:
    parsed = q("Slot", Kind.APPOINTMENT, "schedule=Schedule/2&status=busy")
    fields = [(c.field, c.op, c.values) for c in parsed.query.criteria]  # type: ignore[attr-defined]
    assert (Field.DATE, Op.NE, (None,)) in fields
    assert (Field.PROVIDER, Op.NE, (None,)) in fields
    assert (Field.PROVIDER, Op.EQ, (2,)) in fields
