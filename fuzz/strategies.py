"""Hypothesis strategies for the fuzz targets: raw bytes, mutated seeds, and inputs shaped like
each format (so the generator reaches past the first check of each parser).

Shared by tests/fuzz and by ``python -m fuzz.run`` when atheris is not installed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

# Bytes that mean something to one of the parsers: delimiters, line ends, MLLP framing, a BOM,
# escapes, XML and JSON punctuation, and bytes that are not UTF-8.
INTERESTING = (
    b"|", b"^", b"~", b"\\", b"&", b"#", b"*", b":", b"\r", b"\n", b"\r\n", b"\x0b", b"\x1c\r",
    b"\x1c", b"\xef\xbb\xbf", b"MSH|^~\\&|", b"ISA*", b"GS*", b"ST*", b"SE*", b"GE*", b"IEA*",
    b"\\X", b"\\E\\", b'""', b"<", b">", b"</", b'"', b"{", b"}", b"[", b"]", b"\\u", b"\\ud800",
    b"\\u001f", b"\xff", b"\xc3", b"\x00", b" ", b"0", b"9" * 12, b"-", b".", b"e999",
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    """A seed with a few byte-level edits: flips, inserts, deletes, duplicated spans, splices."""
    data = bytearray(draw(st.sampled_from(seeds)) if seeds else b"")
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.integers(0, 5))
        at = draw(st.integers(0, len(data)))
        if op == 0 and data:
            data[min(at, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == 1:
            data[at:at] = draw(st.sampled_from(INTERESTING))
        elif op == 2:
            data[at:at] = draw(st.binary(max_size=8))
        elif op == 3:
            del data[at : at + draw(st.integers(1, 64))]
        elif op == 4 and data:
            span = bytes(data[at : at + draw(st.integers(1, 32))])
            data[at:at] = span * draw(st.integers(1, 8))
        elif op == 5 and seeds:
            other = draw(st.sampled_from(seeds))
            cut = draw(st.integers(0, len(other)))
            data[at:] = other[cut:]
    return bytes(data)


def raw_inputs(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """What a fuzz target is fed: random bytes, interesting tokens, or mutated seeds."""
    tokens = st.lists(st.sampled_from(INTERESTING) | st.binary(max_size=4), max_size=40)
    return st.one_of(st.binary(max_size=512), tokens.map(b"".join), mutated(seeds))


# --------------------------------------------------------------------------- HL7 v2

_SEPARATORS = "|^~\\&#!$%*+,-./:;<=>?@_`{}'"
_SEGMENT_NAMES = ("EVN", "PID", "PV1", "NK1", "IN1", "MRG", "SCH", "AIS", "FT1", "ZXX", "NTE")


@st.composite
def hl7_delimiters(draw: st.DrawFn) -> str:
    """MSH-1 then MSH-2: five (or six, with a truncation character) distinct separators."""
    size = draw(st.sampled_from((5, 6)))
    chars = draw(st.permutations(_SEPARATORS).map(lambda p: p[:size]))
    return "".join(chars)


def _hl7_text() -> st.SearchStrategy[str]:
    alphabet = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(
        "abcXYZ019 .-"
    )
    return st.text(alphabet, max_size=12)


@st.composite
def hl7_messages(draw: st.DrawFn) -> tuple[str, list[list[list[list[str]]]]]:
    """An ER7 message (segments ended by CR) and, per non-MSH segment, its fields as
    repetitions of components of unescaped values. Values are escaped with the message's
    own delimiters, so the tokenizer must give every value back exactly."""
    from hub.adapters.hl7v2.escape import Delimiters, escape

    seps = draw(hl7_delimiters())
    d = Delimiters(seps[0], seps[1], seps[2], seps[3], seps[4], seps[5] if len(seps) > 5 else None)
    control_id = draw(st.from_regex(r"[A-Z0-9]{1,10}", fullmatch=True))
    header = ["EHR", "CLINIC", "HUB", "PRACTICE", "20260102030405", ""]
    msh = seps + d.field + d.field.join([*header, f"ADT{d.component}A01", control_id, "P", "2.5.1"])
    lines = ["MSH" + msh]
    expected: list[list[list[list[str]]]] = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(_SEGMENT_NAMES))
        fields = draw(
            st.lists(
                st.lists(st.lists(_hl7_text(), min_size=1, max_size=4), min_size=1, max_size=3),
                max_size=8,
            )
        )
        expected.append(fields)
        texts = [
            d.repetition.join(d.component.join(escape(v, d) for v in rep) for rep in field)
            for field in fields
        ]
        lines.append(d.field.join([name, *texts]))
    return "\r".join(lines) + "\r", expected


# --------------------------------------------------------------------------- X12

_X12_SEPARATORS = "*|^:~!+'<>{}@$%&()[]/?=;,"


@st.composite
def x12_delimiters(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """Element, component, repetition, segment: four distinct printable non-alphanumerics."""
    chars = draw(st.permutations(_X12_SEPARATORS))
    return chars[0], chars[1], chars[2], chars[3]


def _x12_value(forbidden: str) -> st.SearchStrategy[str]:
    alphabet = st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters=forbidden
    )
    return st.text(alphabet, max_size=10)


@st.composite
def x12_bodies(draw: st.DrawFn, forbidden: str) -> list[tuple[str, list[str | tuple[str, ...]]]]:
    """Body segments: an id and its values (a tuple is a composite)."""
    ids = st.from_regex(r"[A-Z][A-Z0-9]{1,2}", fullmatch=True).filter(
        lambda s: s not in ("ISA", "IEA", "GS", "GE", "ST", "SE", "HL", "LX", "TA1")
    )
    value = _x12_value(forbidden)
    element = value | st.tuples(value, value)
    return draw(
        st.lists(st.tuples(ids, st.lists(element, min_size=1, max_size=6)), min_size=1, max_size=8)
    )


# --------------------------------------------------------------------------- FHIR

_RESOURCE_TYPES = ("Patient", "Appointment", "Encounter", "Coverage", "Organization", "Claim")


def _primitive(json_type: str) -> st.SearchStrategy[Any]:
    if json_type == "boolean":
        return st.booleans()
    if json_type == "integer":
        return st.integers(-(2**31), 2**31 - 1)
    if json_type == "decimal":
        return st.decimals(allow_nan=False, allow_infinity=False, places=3).map(
            lambda d: Decimal(str(d))
        )
    # FHIR strings (datatypes.html#string): no control character but tab, CR and LF
    chars = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    chars |= st.sampled_from("\t\r\n")
    return st.text(chars, max_size=12) | st.sampled_from(
        ("2026-01-02", "1980-02-14", "male", "female", "active", "official")
    )


@functools.cache
def fhir_element(type_name: str, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON-form value of the complex type ``type_name``, from the R4B element table."""
    from hub.adapters.fhir.elements import Kind, element, sequence

    options: dict[str, st.SearchStrategy[Any]] = {}
    for name in sequence(type_name):
        info = element(type_name, name)
        if info is None or name in ("contained", "extension", "modifierExtension", "text"):
            continue
        one: st.SearchStrategy[Any]
        if info.kind is Kind.PRIMITIVE:
            one = _primitive(info.json_type.value)
        elif info.kind is Kind.COMPLEX and depth < 2:
            one = fhir_element(info.type_name, depth + 1)
        else:
            continue
        options[name] = st.lists(one, min_size=1, max_size=2) if info.repeats else one
    if not options:
        return st.just({})
    names = sorted(options)
    chosen = st.lists(st.sampled_from(names), unique=True, max_size=min(5, len(names)))
    return chosen.flatmap(lambda keys: st.fixed_dictionaries({k: options[k] for k in keys}))


@st.composite
def fhir_resources(draw: st.DrawFn) -> dict[str, Any]:
    """A resource in its JSON form: any mix of the type's elements (often not valid R4)."""
    kind = draw(st.sampled_from(_RESOURCE_TYPES))
    body = draw(fhir_element(kind, 0))
    return {"resourceType": kind, **body}


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value, strings with lone surrogates included (written as ``\\ud800`` escapes)."""
    text = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=max_leaves,
    )
