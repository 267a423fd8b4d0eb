"""Blind index terms (docs/adr/0024), no I/O: how names and dates become terms, which FHIR
birthdate precisions map to a term and which are refused, and that terms are keyed per field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.errors import UnsupportedError
from hub.pm.queries import DateRange
from hub.protocols.fhir.search_params import date_range
from hub.store import blind_index
from hub.store.crypto import Cipher


def test_names_fold_case_and_accents_and_split_into_words() -> None:
    assert blind_index.name_tokens("O'Brien-Smith") == ["o", "brien", "smith"]
    assert blind_index.name_tokens("  Zoë  ÅSA ") == ["zoe", "asa"]
    assert blind_index.name_tokens("") == []


def test_terms_are_whole_words_and_prefixes_of_3_to_12() -> None:
    terms = blind_index.name_terms("family", "Li Bartholomewtheodore")
    assert "family:li" in terms and "family:l" not in terms
    words = {t.removeprefix("family:") for t in terms if not t.endswith(":li")}
    expected = {"bartholomewtheodore"} | {"bartholomewtheodore"[:n] for n in range(3, 13)}
    assert words == expected


def test_birth_date_terms_cover_day_month_and_year() -> None:
    assert blind_index.birthdate_terms(date(1980, 5, 14)) == {
        "birthdate:1980-05-14",
        "birthdate:1980-05",
        "birthdate:1980",
    }
    assert blind_index.birthdate_terms(None) == set()


CIPHER = Cipher(b"k" * 32, search_key=b"s" * 32)


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("1980", "1980"),
        ("1980-05", "1980-05"),
        ("1980-12", "1980-12"),
        ("1980-05-14", "1980-05-14"),
    ],
)
def test_each_fhir_date_precision_asks_for_its_term(text: str, term: str) -> None:
    clause = blind_index.birthdate_clause(CIPHER, date_range(text, "birthdate"))
    params = clause.compile().params
    assert next(iter(params.values())) == [CIPHER.blind("patient", f"birthdate:{term}")]


def test_a_birthdate_with_a_time_is_refused() -> None:
    rng = DateRange(datetime(1980, 5, 14, 10, tzinfo=UTC), datetime(1980, 5, 14, 10, 1, tzinfo=UTC))
    with pytest.raises(UnsupportedError, match="encrypted at rest"):
        blind_index.birthdate_clause(CIPHER, rng)


def test_terms_are_keyed_per_purpose_and_per_database() -> None:
    same = CIPHER.blind("patient", "family:smith")
    assert same == Cipher(b"o" * 32, search_key=b"s" * 32).blind("patient", "family:smith")
    assert same != CIPHER.blind("patient", "given:smith")
    assert same != CIPHER.blind("identifier", "family:smith")
    assert same != Cipher(b"k" * 32, search_key=b"t" * 32).blind("patient", "family:smith")
    assert same.startswith("b:") and len(same) == 42
    assert CIPHER.search_token("smith") != CIPHER.blind("patient", "smith")
