"""The billing provider profile (837P 2010AA, 1000A) is validated before it is stored: each
bad value is refused with a message naming the option, hostile text included."""

from __future__ import annotations

import pytest

from hub.errors import ValidationError
from hub.services.practice import PracticeInput, parse_address, parse_npi, parse_tin, validate

GOOD = {
    "name": "North Clinic",
    "npi": "1234567893",
    "tax_id": "12-3456789",
    "address": "100 Main St, Suite 4, Springfield, IL 62701-1234",
}


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--npi", "1234567890", "check digit"),
        ("--npi", "12345", "10 digits"),
        ("--npi", "12345678a3", "10 digits"),
        ("--tax-id", "1234", "EIN"),
        ("--tax-id", "00-1234567", "prefix 00"),
        ("--tax-id", "12-34567890", "EIN"),
        ("--address", "100 Main St Springfield IL 62701", "separated by commas"),
        ("--address", "100 Main St, Springfield, ZZ 62701", "not a US state"),
        ("--address", "100 Main St, Springfield, IL 6270", "ZIP"),
        ("--address", "100 Main St, Springfield, IL", "state code and a ZIP"),
        ("--address", "a, b, c, Springfield, IL 62701", "at most two street lines"),
        ("--address", "1 Main*St, Springfield, IL 62701", "may not contain"),
        ("--name", "North~Clinic", "may not contain"),
        ("--name", "   ", "must not be empty"),
        ("--name", "N" * 61, "longer than 60"),
        ("--taxonomy", "207Q0000", "NUCC"),
        ("--phone", "555-0100", "10-digit"),
        ("--email", "billing at clinic", "e-mail"),
    ],
)
def test_bad_values_are_refused(option: str, value: str, says: str) -> None:
    field = option.removeprefix("--").replace("-", "_")
    given = {**GOOD, field: value}
    with pytest.raises(ValidationError, match=says):
        validate(PracticeInput(**given))  # type: ignore[arg-type]


def test_good_values_are_normalised() -> None:
    row = validate(
        PracticeInput(**GOOD, taxonomy=" 207q00000x ", phone="+1 (217) 555-0100")  # type: ignore[arg-type]
    )
    assert (row.npi, row.tax_id, row.taxonomy, row.phone) == (
        "1234567893", "123456789", "207Q00000X", "2175550100",
    )  # fmt: skip
    assert row.address == {
        "line": ["100 Main St", "Suite 4"], "city": "Springfield", "state": "IL",
        "postal_code": "627011234",
    }  # fmt: skip


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "1679576722"])
def test_npi_check_digit_accepts_valid_numbers(npi: str) -> None:
    assert parse_npi(npi) == npi


@pytest.mark.parametrize("npi", ["1234567890", "1245319590", "0000000001"])
def test_npi_check_digit_refuses_one_digit_off(npi: str) -> None:
    with pytest.raises(ValidationError, match="check digit"):
        parse_npi(npi)


def test_tin_forms() -> None:
    assert parse_tin("12-3456789") == parse_tin("123456789") == "123456789"


def test_a_long_hostile_address_is_refused_quickly() -> None:
    with pytest.raises(ValidationError):
        parse_address(", " * 200_000 + "Springfield, IL 62701")
