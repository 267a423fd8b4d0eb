"""The suite's HL7 v2 builders (tests/support/hl7_messages.py) make valid messages: a test
that builds one and expects it accepted is not testing a malformed fixture."""

from __future__ import annotations

import pytest
from support import hl7_messages as hl7

from hub.adapters.hl7v2.checks import check
from hub.adapters.hl7v2.peek import peek
from hub.adapters.hl7v2.tokenizer import parse

SUPPORTED = frozenset({"ADT^*", "SIU^*", "DFT^P03"})


@pytest.mark.parametrize(
    "raw",
    [
        hl7.adt(),
        hl7.adt("C2", trigger="A08", mrn="M9", given="Beth"),
        hl7.adt("C3", trigger="A03"),
        hl7.siu(),
        hl7.siu("S2", trigger="S15", status="Cancelled"),
        hl7.dft(),
        hl7.dft(
            "D2", charges=[("T1", "20260105", "99213", "80.00"), ("T2", "20260105", "99214", "5")]
        ),
    ],
)
def test_built_messages_pass_the_ack_path_checks(raw: bytes) -> None:
    assert check(parse(raw), SUPPORTED) == []


def test_overrides_land_where_a_test_expects_them() -> None:
    raw = hl7.adt("CTL9", trigger="A08", mrn="M77", sending_facility="SOUTHCLINIC", version="2.3")
    msg = parse(raw)
    assert (msg.control_id, msg.type, msg.msh.get(4), msg.msh.get(12)) == (
        "CTL9",
        "ADT^A08",
        "SOUTHCLINIC",
        "2.3",
    )
    assert peek(msg).lane_key == "SOUTHCLINIC/M77"
