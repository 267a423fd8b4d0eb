"""Issue 10 item 21: every SIU the hub builds passes hl7apy STRICT validation for 2.5.1.

Before the fix SCH-16 (and SCH-20, SCH-6) were missing, AIL-3.1 could exceed PL-1's 20
characters and AIS-3 carried the appointment type. The cases cover S12 / S13 / S15 with every
optional resource, none, and values longer than the IS-typed parts allow.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hl7apy.validation import Validator
from test_outbound_siu_build import APPT, ENDPOINT, NOW

from hub.adapters.hl7v2.tokenizer import parse
from hub.mappings.pm_hl7v2 import (
    SiuAppointment,
    SiuEndpoint,
    SiuEvent,
    SiuLocation,
    SiuService,
    build_siu,
)

LONG = "NORTH VALLEY FAMILY MEDICINE CLINIC"  # 35 characters: past IS's 20
APPTS = {
    "full": APPT,
    "bare": replace(APPT, provider=None, location=None, type="", reason="", placer_id=""),
    "long": replace(
        APPT,
        filler_authority=LONG,
        location=SiuLocation("EXAM ROOM 12 WEST WING 3RD FLOOR", LONG, "Room 12"),
        patient=replace(APPT.patient, assigning_authority=LONG),
        service=SiuService("99213", "Office visit", "C4"),
    ),
}
ENDPOINTS = {
    "short": ENDPOINT,
    "long": replace(ENDPOINT, receiving_facility=LONG, receiving_application=LONG),
}


def strict(raw: bytes) -> None:
    message = parse_message(
        raw.decode("utf-8"), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True
    )
    Validator.validate(message, reference=message.reference)


@pytest.mark.parametrize("event", list(SiuEvent))
@pytest.mark.parametrize("appt", list(APPTS))
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_built_siu_is_strictly_valid(event: SiuEvent, appt: str, endpoint: str) -> None:
    a: SiuAppointment = APPTS[appt]
    ep: SiuEndpoint = ENDPOINTS[endpoint]
    strict(build_siu(event, a, ep, now=NOW, control_id="CTL1"))


def test_long_values_move_to_their_wide_components_intact() -> None:
    msg = parse(build_siu(SiuEvent.BOOK, APPTS["long"], ENDPOINTS["long"], now=NOW, control_id="C"))
    assert msg.get("AIL-3.1") == "" and msg.get("AIL-3.10") == "EXAM ROOM 12 WEST WING 3RD FLOOR"
    assert msg.get("SCH-2.2") == "" and msg.get("SCH-2.3") == LONG and msg.get("SCH-2.4") == "L"
    assert msg.get("MSH-6.2") == LONG and msg.get("MSH-6.3") == "L"
    assert msg.get("AIS-3") == "99213" and msg.get("AIS-3.3") == "C4"
    assert msg.get("SCH-8") == "FOLLOWUP"  # the type stays in SCH-8, never in AIS-3
