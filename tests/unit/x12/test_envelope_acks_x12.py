"""TA1 and 999 for failing files, read back through the tokenizer and envelope walker."""

from __future__ import annotations

from datetime import datetime

from x12_factory import BODY_835, interchange

from hub.adapters.x12.acks import AnsweredIsa, ack_999, ta1
from hub.adapters.x12.envelope import TransactionSet, walk
from hub.adapters.x12.report import check
from hub.adapters.x12.tokenizer import tokenize

NOW = datetime(2026, 3, 4, 5, 6)


def bodies(data: bytes) -> list[list[str]]:
    out = []
    for item in walk(data):
        assert isinstance(item, TransactionSet)
        out.append([s.render() for s in item])
    return out


def test_ta1_rejects_with_the_note_code_and_answers_the_inbound_isa13() -> None:
    bad = interchange(BODY_835).replace("IEA*1*000000123", "IEA*1*000000999").encode()
    report = check(bad)
    assert report.error is not None and report.error.isa is not None
    answered = AnsweredIsa.from_segment(report.error.isa)
    assert answered is not None
    data = ta1(answered, control_number=77, now=NOW, error=report.error)
    assert check(data).ok  # a well-formed interchange itself
    segments = list(tokenize(data))
    assert segments[0].element(6).strip() == "RECEIVER"  # parties swapped
    assert segments[0].element(8).strip() == "SENDER"
    assert segments[0].element(13) == "000000077"
    assert [s.render() for s in segments[1:]] == [
        "TA1*000000123*260101*1200*R*001",
        "IEA*0*000000077",
    ]


def test_ta1_for_an_isa_too_broken_to_parse_reads_it_loosely() -> None:
    text = interchange(BODY_835).replace("SENDER         ", "SENDER      ", 1)
    report = check(text.encode())
    assert report.error is not None and report.error.ta1_code == "006"
    answered = AnsweredIsa.loose(text)
    assert answered is not None and answered.control_number == "000000123"
    data = ta1(answered, control_number=5, now=NOW, error=report.error)
    assert b"TA1*000000123*260101*1200*R*006~" in data
    assert AnsweredIsa.loose("GARBAGE") is None
    assert AnsweredIsa.loose("ISA*00*" + "x" * 50) is None


def test_ta1_accepted() -> None:
    answered = AnsweredIsa.loose(interchange(BODY_835))
    assert answered is not None
    assert b"TA1*000000123*260101*1200*A*000~" in ta1(answered, control_number=1, now=NOW)


def test_999_reports_each_set_and_the_group() -> None:
    text = interchange(BODY_835, BODY_835, BODY_835)
    text = text.replace("SE*6*0002", "SE*9*0002").replace("TRN*1*12345", "t!*1*12345", 1)
    data = ack_999(check(text.encode()), control_number=9, now=NOW)
    assert data is not None
    assert check(data).ok
    [body] = bodies(data)
    assert body == [
        "AK1*HP*7*005010X221A1",
        "AK2*835*0001*005010X221A1",
        "IK3*?*3**1",
        "IK5*R*5",
        "AK2*835*0002*005010X221A1",
        "IK5*R*4",
        "AK2*835*0003*005010X221A1",
        "IK5*A",
        "AK9*P*3*3*1",
    ]
    gs = next(s for s in tokenize(data) if s.id == "GS")
    assert (gs.element(1), gs.element(2), gs.element(3), gs.element(8)) == (
        "FA",
        "RECEIVER",
        "SENDER",
        "005010X231A1",
    )


def test_999_group_errors_in_ak9() -> None:
    text = interchange(BODY_835, ge_count=4).replace("GE*4*7", "GE*4*8")
    data = ack_999(check(text.encode()), control_number=9, now=NOW)
    assert data is not None
    [body] = bodies(data)
    assert body[-1] == "AK9*R*1*1*1*5*4"


def test_999_all_accepted() -> None:
    data = ack_999(check(interchange(BODY_835).encode()), control_number=3, now=NOW)
    assert data is not None
    assert bodies(data) == [
        ["AK1*HP*7*005010X221A1", "AK2*835*0001*005010X221A1", "IK5*A", "AK9*A*1*1*1"]
    ]


def test_no_999_without_a_group() -> None:
    assert ack_999(check(b""), control_number=1, now=NOW) is None


def test_999_names_a_bad_element_with_ik4() -> None:
    """A reader's element error (IK403, with IK404 only when it cannot be patient data)."""
    from hub.adapters.x12 import errors as e
    from hub.errors import X12Location

    report = check(interchange(BODY_835).encode())
    [result] = report.interchanges[0].groups[0].sets
    result.errors.append(
        e.SegmentError(
            "CLP02 is not a claim status code",
            ik304="8",
            set_id="835",
            control_number="0001",
            location=X12Location("CLP", 5, "2100", 2),
            ik403="7",
            bad_value="Z",
        )
    )
    result.errors.append(
        e.SegmentError(
            "SVC01-2 missing",
            ik304="8",
            set_id="835",
            control_number="0001",
            location=X12Location("SVC", 9, "2110", 1, 2),
            ik403="1",
        )
    )
    data = ack_999(report, control_number=4, now=NOW)
    assert data is not None
    [body] = bodies(data)
    assert body[2:7] == [
        "IK3*CLP*5*2100*8",
        "IK4*2**7*Z",
        "IK3*SVC*9*2110*8",
        "IK4*1:2**1",
        "IK5*R*5",
    ]
    assert body[-1] == "AK9*R*1*1*0"
