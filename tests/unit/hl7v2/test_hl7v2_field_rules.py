"""One rule set (issue 10, item 15): what the PM mapping refuses, the ACK-path checks refuse.

For one full synthetic message per type, every component of every field is replaced in turn by
values a mapping may refuse (empty, text, an impossible date, zero, a negative number); whenever
``map_message`` raises a ValidationError, ``check`` must have answered an error at the ACK, and
the ACK must not refuse what the mapping would take. All data is synthetic.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from hub.adapters.hl7v2.checks import check
from hub.adapters.hl7v2.errors import ack_code, code_0357
from hub.adapters.hl7v2.tokenizer import parse
from hub.errors import ValidationError
from hub.mappings.hl7v2_pm import SUPPORTED_TYPES, map_message

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MUTATIONS = ("", "X", "20261345", "0", "-1", '""')


def msh(type_: str, version: str = "2.5.1") -> str:
    return f"MSH|^~\\&|EHR|CLINIC|HUB|PM|20260301120000||{type_}|C1|P|{version}"


PID = (
    "PID|1||M1^^^CLINIC^MR~X9^^^OTHER^PI||Test^Alpha^B^Jr^Dr||19800214|F|||1 Main St^^Town^ST"
    "^12345^USA||^PRN^PH^^^555^1234567|^WPN^PH^^^555^7654321||||||||||||||||N"
)


def seg(name: str, fields: dict[int, str]) -> str:
    return "|".join([name, *(fields.get(i, "") for i in range(1, max(fields) + 1))])


PV1 = seg(
    "PV1",
    {
        1: "1",
        2: "O",
        3: "CLINIC^101^A^CLINIC",
        7: "1234567890^Doe^Jane^^^^^^NPI",
        19: "V100",
        44: "20260301080000",
        45: "20260301090000",
    },
)
IN1 = seg(
    "IN1",
    {
        1: "1",
        2: "PLAN1^Gold",
        3: "PAY1",
        4: "Payer One",
        8: "GRP1",
        9: "Group One",
        12: "20260101",
        13: "20261231",
        16: "Test^Alpha",
        17: "SEL",
        18: "19800214",
        36: "MEM1",
        49: "SUB1",
    },
)
ADT_BODY = ("EVN|A01|20260301120000||||20260301115500", PID, PV1, IN1, "IN2|1||||||||MEM2")
SIU_BODY = (
    seg(
        "SCH",
        {
            1: "P1",
            2: "F1",
            7: "Checkup^Annual check",
            8: "ROUTINE",
            9: "30",
            10: "MIN",
            11: "^^30^20260302090000",
            25: "BOOKED",
        },
    ),
    "TQ1|1||||||20260302090000|20260302093000",
    PID,
    PV1,
    "AIS|1||99213^Office visit|20260302090000|||30|MIN",
    "AIG|1||R1^Room|P",
    "AIL|1||CLINIC^101^A",
    "AIP|1||1234567890^Doe^Jane^^^^^^NPI",
)
SIU_V23_BODY = ("SCH|P1|F1|||||Checkup|ROUTINE|||^^M30^20260302090000", PID)
DFT_BODY = (
    "EVN|P03|20260301120000",
    PID,
    PV1,
    seg(
        "FT1",
        {
            1: "1",
            2: "T1",
            4: "20260301",
            6: "CG",
            7: "99213",
            10: "2",
            11: "150.00",
            12: "75.00",
            19: "Z00.00~I10",
            20: "1234567890^Doe^Jane^^^^^^NPI",
            21: "1234567890^Roe^Rick^^^^^^NPI",
            25: "99213",
            26: "25~59",
        },
    ),
    "DG1|1||E11.9||||||||||||1",
)

BASES: dict[str, tuple[str, ...]] = {
    **{f"ADT^{t}": ADT_BODY for t in ("A01", "A03", "A04", "A08", "A11", "A13", "A28", "A31")},
    "ADT^A40": ("EVN|A40|20260301120000", PID, "MRG|M2^^^CLINIC^MR"),
    "ADT^A47": ("EVN|A47|20260301120000", PID, "MRG|M2^^^CLINIC^MR"),
    **{f"SIU^{t}": SIU_BODY for t in ("S12", "S13", "S14", "S15", "S17", "S26")},
    "SIU^S12 v2.3": SIU_V23_BODY,
    "DFT^P03": DFT_BODY,
}


def text(type_key: str, body: tuple[str, ...]) -> str:
    type_, _, note = type_key.partition(" ")
    return "\r".join((msh(type_, "2.3" if note == "v2.3" else "2.5.1"), *body)) + "\r"


def mutants(body: tuple[str, ...]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Each component of each field of each segment replaced by each mutation."""
    for s, segment in enumerate(body):
        fields = segment.split("|")
        for f in range(1, len(fields)):
            components = fields[f].split("^")
            for c in range(len(components)):
                for value in MUTATIONS:
                    changed = list(components)
                    changed[c] = value
                    new_fields = [*fields[:f], "^".join(changed), *fields[f + 1 :]]
                    where = f"{fields[0]}-{f}.{c + 1}={value!r}"
                    yield where, (*body[:s], "|".join(new_fields), *body[s + 1 :])


def test_every_supported_type_has_a_base_message() -> None:
    assert set(SUPPORTED_TYPES) <= {key.split(" ")[0] for key in BASES}


@pytest.mark.parametrize("type_key", sorted(BASES))
def test_base_messages_are_valid_and_mapped(type_key: str) -> None:
    msg = parse(text(type_key, BASES[type_key]))
    assert check(msg, {"*"}) == []
    assert map_message(msg, now=NOW)


@pytest.mark.parametrize("type_key", sorted(BASES))
def test_the_ack_refuses_what_the_mapping_refuses_and_no_more(type_key: str) -> None:
    missed: list[str] = []  # refused by the mapping after an AA
    stricter: list[str] = []  # refused in the ACK although the mapping would take it
    refused = 0
    for where, body in mutants(BASES[type_key]):
        msg = parse(text(type_key, body))
        acked = ack_code(check(msg, {"*"}))
        try:
            map_message(msg, now=NOW)
        except ValidationError:
            refused += 1
            if acked == "AA":
                missed.append(where)
        else:
            if acked != "AA":
                stricter.append(where)
    assert refused > 0  # the mutations do reach the mapping's rules
    assert missed == []
    assert stricter == []


@pytest.mark.parametrize(
    ("type_", "segment", "field", "bad", "number"),
    [
        ("ADT^A04", "PID", 7, "19801340", 102),
        ("ADT^A04", "PID", 8, "Q", 103),
        ("ADT^A04", "IN1", 12, "2026", 102),
        ("ADT^A03", "PV1", 45, "2026030125", 102),
        ("SIU^S12", "AIS", 7, "thirty", 102),
        ("SIU^S12", "AIS", 8, "FORTNIGHT", 103),
        ("SIU^S12", "TQ1", 7, "20260230", 102),
        ("DFT^P03", "FT1", 11, "12,50", 102),
        ("DFT^P03", "FT1", 10, "0", 102),
        ("DFT^P03", "FT1", 4, "20260230", 102),
    ],
)
def test_a_value_the_mapping_rejects_is_answered_ae_at_the_field(
    type_: str, segment: str, field: int, bad: str, number: int
) -> None:
    body = list(BASES[type_])
    i = next(n for n, s in enumerate(body) if s.startswith(segment + "|"))
    fields = body[i].split("|")
    fields[field] = bad
    body[i] = "|".join(fields)
    msg = parse(text(type_, tuple(body)))
    with pytest.raises(ValidationError) as mapped:
        map_message(msg, now=NOW)
    errors = check(msg, {"*"})
    assert ack_code(errors) == "AE"
    found = [(code_0357(e), e.location.segment, e.location.field) for e in errors if e.location]
    assert found == [(number, segment, field)]
    assert mapped.value.code == errors[0].code
