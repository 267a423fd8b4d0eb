from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.adapters.hl7v2.escape import DEFAULT_DELIMITERS as D
from hub.adapters.hl7v2.escape import Delimiters, escape, unescape


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b", "a^b"),
        ("a\\T\\b", "a&b"),
        ("a\\R\\b", "a~b"),
        ("a\\E\\b", "a\\b"),
        ("\\X41\\\\X4243\\", "ABC"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_unescape(escaped: str, plain: str) -> None:
    assert unescape(escaped, D) == plain


@pytest.mark.parametrize(
    "kept",
    [
        "\\H\\bold\\N\\",
        ".br",
        "\\Q\\",
        "x\\Cxxyy\\",
        "\\Zabc\\",
        "dangling\\F",
        "\\X4\\",
        "\\XZZ\\",
    ],
)
def test_formatting_unknown_and_broken_sequences_are_kept(kept: str) -> None:
    assert unescape(kept, D) == kept


def test_truncation_escape_only_with_a_truncation_character() -> None:
    assert unescape("a\\P\\b", D) == "a\\P\\b"
    assert unescape("a\\P\\b", Delimiters(truncation="#")) == "a#b"
    assert escape("a#b", Delimiters(truncation="#")) == "a\\P\\b"


def test_escape_every_delimiter() -> None:
    assert escape("a|b^c&d~e\\f", D) == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"


@given(st.text(alphabet="ab|^&~\\ \u00e9", max_size=30))
def test_round_trip_text(text: str) -> None:
    assert unescape(escape(text, D), D) == text


@pytest.mark.parametrize("escaped", ["a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", "x", "\\E\\\\E\\"])
def test_round_trip_escaped(escaped: str) -> None:
    assert escape(unescape(escaped, D), D) == escaped
