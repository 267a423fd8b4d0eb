"""999, TA1, 277CA / 277 and 271 readers on synthetic and published answers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from hub.adapters.x12.readers.acknowledgment import (
    GroupResponse,
    SetResponse,
    read_999,
    read_ta1,
)
from hub.adapters.x12.readers.claim_status import ClaimStatusReport, LevelStatus, read_277
from hub.adapters.x12.readers.eligibility import read_271
from hub.adapters.x12.readers.segments import ReadError, Seg, from_elements
from hub.adapters.x12.readers.walk import SetResults, read_all
from hub.mappings import x12_acks, x12_claim_status, x12_eligibility
from hub.pm.enums import AckResult, ClaimStatus, EligibilityStatus

SAMPLES = Path(__file__).resolve().parents[3] / "conformance" / "x12" / "samples"


def segs(*texts: str) -> list[Seg]:
    return list(from_elements(t.split("*") for t in texts))


def sample(name: str) -> list[object]:
    out: list[object] = []
    for found in read_all((SAMPLES / f"{name}.x12").read_bytes()):
        if isinstance(found, SetResults):
            out.extend(found.results)
    return out


PARTIAL_999 = (
    "ST*999*0001*005010X231A1",
    "AK1*HC*17*005010X222A1",
    "AK2*837*0001*005010X222A1",
    "IK5*A",
    "AK2*837*0002*005010X222A1",
    "IK3*CLM*22*2300*8",
    "CTX*CLM01:PCN2",
    "IK4*5:3*1325*7*Z",
    "IK3*NM1*9*2010BA*3",
    "IK5*R*5",
    "AK9*P*2*2*1",
    "SE*12*0001",
)


def test_a_partially_accepted_999_names_each_sets_verdict_and_errors() -> None:
    accepted, rejected, group = list(read_999(segs(*PARTIAL_999)))
    assert isinstance(accepted, SetResponse) and isinstance(rejected, SetResponse)
    assert (accepted.control_number, accepted.result) == ("0001", "accepted")
    assert (rejected.control_number, rejected.result, rejected.codes) == (
        "0002",
        "rejected",
        ("5",),
    )
    clm, nm1 = rejected.segments
    assert (clm.segment_id, clm.position, clm.loop, clm.code) == ("CLM", 22, "2300", "8")
    assert clm.context == ("CLM01:PCN2",)
    (element,) = clm.elements
    assert (element.position, element.component, element.reference, element.code) == (
        5,
        3,
        "1325",
        "7",
    )
    assert (nm1.segment_id, nm1.code, nm1.elements) == ("NM1", "3", ())
    assert isinstance(group, GroupResponse)
    assert (group.group_control_number, group.result, group.accepted, group.sets) == (
        "17",
        "partially_accepted",
        1,
        2,
    )
    assert x12_acks.set_result(rejected) is AckResult.REJECTED
    reason = x12_acks.set_reason(rejected)
    assert reason == (
        "IK5 R 5; IK3 CLM segment 22 code 8 loop 2300 [IK4 element 5-3 code 7]; "
        "IK3 NM1 segment 9 code 3 loop 2010BA"
    )
    assert "PCN2" not in reason and "Z" not in reason.split()  # CTX and IK404 stay out


def test_a_999_without_ak9_is_an_error() -> None:
    with pytest.raises(ReadError, match="AK9"):
        list(read_999(segs(*PARTIAL_999[:-2])))


def test_the_published_999_and_ta1() -> None:
    found = sample("pyx12_999_for_834")  # ims_999_accepted's IEA02 is wrong (its golden)
    assert isinstance(found[0], SetResponse) and found[0].result == "accepted"
    ta1 = read_ta1(Seg(("TA1", "000000050", "200229", "1200", "R", "022"), 1))
    assert (ta1.control_number, ta1.result, ta1.note_code) == ("000000050", "rejected", "022")
    assert x12_acks.ta1_reason(ta1) == "TA1 R 022: invalid control structure"
    with pytest.raises(ReadError, match="TA104"):
        read_ta1(Seg(("TA1", "1", "200229", "1200", "Q", "000"), 1))


def test_277ca_claim_levels_accept_or_reject() -> None:
    level, claim = sample("ims_277CA_accepted")
    assert isinstance(level, LevelStatus) and level.level == "receiver"
    assert isinstance(claim, ClaimStatusReport)
    assert (claim.patient_control_number, claim.payer_claim_number) == ("5781", "1107000000014420")
    assert x12_claim_status.new_status(claim, "277CA") is ClaimStatus.ACCEPTED
    rejected = list(
        read_277(
            segs(
                "ST*277*1*005010X214",
                "HL*1**20*1",
                "HL*2*1*21*1",
                "HL*3*2*19*1",
                "HL*4*3*PT",
                "TRN*2*PCN9",
                "STC*A7:21:85*20261201*U*100",
                "STC*A3:ZZZ",
            )
        )
    )
    (report,) = rejected
    assert isinstance(report, ClaimStatusReport)
    assert [(c.category, c.status, c.entity) for c in report.codes()] == [
        ("A7", "21", "85"),
        ("A3", "ZZZ", None),
    ]
    assert x12_claim_status.new_status(report, "277CA") is ClaimStatus.REJECTED
    assert x12_claim_status.unknown(report) == ["unknown claim status code ZZZ"]
    events = x12_claim_status.events(report, "277CA", at=datetime(2026, 12, 1))
    assert events[0].detail is not None and "rejected for invalid information" in events[0].detail


def test_a_277_response_reports_claims_and_lines_but_moves_no_status() -> None:
    found = sample("lfh_277_claim_level")
    reports = [r for r in found if isinstance(r, ClaimStatusReport)]
    assert [r.trace_number for r in reports] == ["ABCXYZ1", "ABCXYZ2", "ABCXYC3"]
    # in a 277 (X212) our CLM01 comes back in REF*EJ, TRN02 is the status request's trace
    assert [r.patient_control_number for r in reports] == ["SM123456", "J0234567", "MA345678"]
    last = found[-1]
    assert isinstance(last, ClaimStatusReport)
    (line,) = last.lines
    assert line.code == "99203" and line.statuses[0].codes[0].category == "F2"
    assert x12_claim_status.new_status(last, "277") is None


def test_271_benefits_and_aaa_errors() -> None:
    (subscriber,) = sample("lfh_271_subscriber")
    assert subscriber.trace_number == "93175-012547" and subscriber.member_id == "123456789"
    infos = [b.info for b in subscriber.benefits]
    assert infos == ["1", "L", "1", "B", "B"]  # LS/LE's NM1*P3 is not the member
    copay = subscriber.benefits[3]
    assert copay.service_types[:3] == ("1", "33", "35") and str(copay.amount) == "10.00"
    assert copay.in_network == "Y"
    assert x12_eligibility.status(subscriber) is EligibilityStatus.ACTIVE
    errors = list(
        read_271(
            segs(
                "ST*271*1", "HL*1**20*1", "HL*2*1*21*1", "HL*3*2*22*0", "TRN*2*T1*9", "AAA*N**72*C"
            )
        )
    )
    (report,) = errors
    assert report.rejected and report.errors[0].reason == "72"
    check = x12_eligibility.check(report, at=datetime(2026, 12, 1))
    assert check.status is EligibilityStatus.UNKNOWN
    assert check.benefits[0].code == "error" and "AAA 72" in (check.benefits[0].message or "")
