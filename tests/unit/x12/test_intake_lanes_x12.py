"""One partner's X12 files wait in one lane until they are split (ADR 0009: a later 835's item
for a claim must queue behind an earlier 277CA's item for it, whichever worker splits first)."""

from __future__ import annotations

from x12_factory import interchange

from hub.protocols.x12.receiver import X12Intake


def test_files_from_one_sender_share_the_split_lane() -> None:
    intake = X12Intake()
    first = intake.inspect(interchange(["BPR*I*0*C*NON", "TRN*1*1*1"]).encode()).inbound
    second = intake.inspect(
        interchange(["BHT*0085*08*1*20260101*1200*TH"], control="000000124", set_id="277").encode()
    ).inbound
    assert first.lane_keys == ("split:x12:SENDER",)
    assert second.lane_keys == first.lane_keys


def test_a_file_without_a_readable_sender_has_no_lane() -> None:
    inbound = X12Intake().inspect(b"\x00\x01 not x12 at all").inbound
    assert inbound.lane_keys == ()
