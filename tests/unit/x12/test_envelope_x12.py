"""The envelope walker and the whole-file report: every check with its ack code."""

from __future__ import annotations

import pytest
from x12_factory import BODY_835, interchange

from hub.adapters.x12 import errors as e
from hub.adapters.x12.envelope import InterchangeAck, TransactionSet, walk
from hub.adapters.x12.report import check


def test_walk_yields_sets_with_headers_and_their_body_segments() -> None:
    data = interchange(BODY_835, BODY_835[:2]).encode()
    seen = []
    for item in walk(data):
        assert isinstance(item, TransactionSet)
        h = item.header
        seen.append((h.kind, h.control_number, [s.id for s in item]))
        assert h.interchange.sender_id == "SENDER" and h.interchange.control_number == "000000123"
        assert h.group.control_number == "7" and h.implementation == "005010X221A1"
    assert seen == [
        ("835", "0001", ["BPR", "TRN", "LX", "CLP"]),
        ("835", "0002", ["BPR", "TRN"]),
    ]


def test_a_reader_that_stops_early_loses_nothing() -> None:
    data = interchange(BODY_835, BODY_835).encode()
    firsts = []
    for item in walk(data):
        assert isinstance(item, TransactionSet)
        firsts.append(next(iter(item)).id)  # read one segment, skip the rest
    assert firsts == ["BPR", "BPR"]


def test_kinds_from_st01_and_the_guide() -> None:
    cases = {
        ("837", "005010X222A1"): "837P",
        ("837", "005010X223A2"): "837I",
        ("277", "005010X214"): "277CA",
        ("277", "005010X212"): "277",
        ("999", "005010X231A1"): "999",
    }
    for (set_id, guide), kind in cases.items():
        data = interchange(["BHT*0019"], set_id=set_id, version=guide).encode()
        assert dict(check(data).kinds()) == {kind: 1}


def test_inbound_ta1_is_yielded_as_an_interchange_ack() -> None:
    text = interchange(BODY_835)
    head, _, _ = text.partition("GS*")
    data = (head + "TA1*000000050*260101*1200*A*000~IEA*0*000000123~").encode()
    items = list(walk(data))
    assert len(items) == 1 and isinstance(items[0], InterchangeAck)
    assert items[0].segment.element(4) == "A"
    assert check(data).ok and dict(check(data).kinds()) == {"TA1": 1}


@pytest.mark.parametrize(
    ("kwargs", "ik502", "words"),
    [
        ({"se_count": 9}, "4", "SE01 says 9 segments but set 0001 has 6"),
        ({"set_id": "850"}, "1", "transaction set 850 is not supported"),
    ],
)
def test_transaction_set_errors_reject_that_set(
    kwargs: dict[str, object], ik502: str, words: str
) -> None:
    data = interchange(BODY_835, **kwargs).encode()  # type: ignore[arg-type]
    report = check(data)
    assert not report.ok and report.error is None
    [group] = report.interchanges[0].groups
    [result] = group.sets
    assert [x.ik502 for x in result.errors] == [ik502]
    assert words in result.errors[0].message
    assert group.ak901 == "R"
    with pytest.raises(e.TransactionSetError):  # strict walk raises the same
        for item in walk(data):
            assert isinstance(item, TransactionSet)
            list(item)


def test_se02_mismatch_and_bad_segment_ids_are_located() -> None:
    text = interchange(BODY_835, BODY_835).replace("SE*6*0002", "SE*6*0009")
    text = text.replace("TRN*1*12345", "tr!*1*12345", 1)
    report = check(text.encode())
    first, second = report.interchanges[0].groups[0].sets
    [bad] = first.errors
    assert isinstance(bad, e.SegmentError) and bad.ik304 == "1"
    assert bad.location is not None and bad.location.segment_position == 3
    assert [x.ik502 for x in second.errors] == ["3"]
    assert report.interchanges[0].groups[0].ak901 == "R"


def test_partially_accepted_group() -> None:
    text = interchange(BODY_835, BODY_835).replace("SE*6*0002", "SE*7*0002")
    group = check(text.encode()).interchanges[0].groups[0]
    assert [s.accepted for s in group.sets] == [True, False]
    assert group.ak901 == "P"


def test_missing_se_is_trailer_missing() -> None:
    text = interchange(BODY_835).replace("SE*6*0001~", "")
    [result] = check(text.encode()).interchanges[0].groups[0].sets
    assert [x.ik502 for x in result.errors] == ["2"]


def test_ge_count_and_control_number() -> None:
    report = check(interchange(BODY_835, ge_count=3).encode())
    [group] = report.interchanges[0].groups
    assert [x.ak905 for x in group.errors] == ["5"]
    assert group.ak901 == "R"
    report = check(interchange(BODY_835).replace("GE*1*7", "GE*1*8").encode())
    assert [x.ak905 for x in report.interchanges[0].groups[0].errors] == ["4"]


def test_missing_ge_is_group_trailer_missing() -> None:
    text = interchange(BODY_835).replace("GE*1*7~", "")
    report = check(text.encode())
    assert [x.ak905 for x in report.interchanges[0].groups[0].errors] == ["3"]
    assert report.error is None


@pytest.mark.parametrize(
    ("text_change", "ta1", "words"),
    [
        (lambda t: t.replace("IEA*1*000000123", "IEA*1*000000124"), "001", "IEA02"),
        (lambda t: t.replace("IEA*1*", "IEA*2*"), "021", "IEA01 says 2 groups"),
        (lambda t: t.replace("IEA*1*000000123~", ""), "023", "no IEA trailer"),
        (lambda t: t[: t.index("SE*")], "023", "ends inside transaction set"),
        (lambda t: t[: t.index("GE*")], "023", "ends inside group"),
        (lambda t: t.replace("*00501*", "*00401*"), "003", "ISA12 version 00401"),
        (lambda t: t.replace("*0*P*", "*0*X*"), "020", "ISA15"),
        (lambda t: t.replace("*260101*", "*261341*"), "014", "ISA09"),
        (lambda t: t.replace("~GS*", "~ST*835*0001~GS*", 1), "024", "outside a functional group"),
        (lambda t: t + "ST*835*0002~", "024", "outside any interchange"),
    ],
)
def test_interchange_errors_are_ta1(text_change: object, ta1: str, words: str) -> None:
    data = text_change(interchange(BODY_835)).encode()  # type: ignore[operator]
    report = check(data)
    assert report.error is not None and not report.ok
    assert report.error.ta1_code == ta1
    assert words in report.error.message
    assert report.error.isa is not None and report.error.isa.element(13) == "000000123"
    with pytest.raises(e.InterchangeError):
        for item in walk(data):
            if isinstance(item, TransactionSet):
                list(item)


def test_two_interchanges_in_one_file_with_different_delimiters() -> None:
    one = interchange(BODY_835)
    two = interchange(BODY_835, control="000000124", sep="|", term="\n")
    report = check((one + two).encode())
    assert report.ok
    assert [i.header.control_number for i in report.interchanges] == ["000000123", "000000124"]
    assert report.kinds()["835"] == 2


def test_duplicate_st02_in_a_group() -> None:
    text = interchange(BODY_835, BODY_835).replace("ST*835*0002", "ST*835*0001")
    text = text.replace("SE*6*0002", "SE*6*0001")
    first, second = check(text.encode()).interchanges[0].groups[0].sets
    assert first.accepted and [x.ik502 for x in second.errors] == ["23"]


def test_garbage_inside_a_set_is_bounded() -> None:
    body = ["BPR*I*1"] + ["!!" for _ in range(500)]
    [result] = check(interchange(body).encode()).interchanges[0].groups[0].sets
    assert 1 <= len(result.errors) <= 101
    assert result.segment_count == 503
