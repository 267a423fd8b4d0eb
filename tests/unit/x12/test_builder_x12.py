"""The builder: counts, control numbers, HL and LX filled by it; bad output refused."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from hub.adapters.x12.builder import InterchangeBuilder, Party
from hub.adapters.x12.delimiters import Delimiters
from hub.adapters.x12.envelope import TransactionSet, walk
from hub.adapters.x12.errors import BuildError
from hub.adapters.x12.report import check
from hub.adapters.x12.tokenizer import tokenize

WHEN = datetime(2026, 3, 4, 5, 6)


def builder(**kw: object) -> InterchangeBuilder:
    args: dict[str, object] = {
        "sender": Party("ZZ", "HUBSENDER"),
        "receiver": Party("ZZ", "CLEARINGHOUSE"),
        "control_number": 42,
        "timestamp": WHEN,
    }
    args.update(kw)
    return InterchangeBuilder(**args)  # type: ignore[arg-type]


def claim_file(ib: InterchangeBuilder, claims: int = 2) -> None:
    group = ib.group("HC", "005010X222A1", sender_id="HUBSENDER", receiver_id="CH")
    ts = group.transaction("837")
    ts.segment("BHT", "0019", "00", "B1", "20260304", "0506", "CH")
    billing = ts.hl(None, "20")
    for n in range(claims):
        subscriber = ts.hl(billing, "22")
        ts.hl(subscriber, "23")
        ts.segment("CLM", f"PCN{n}", Decimal("100.50"), None, None, ("11", "B", "1"))
        ts.lx()
        ts.segment("SV1", ("HC", "99213"), Decimal("100.50"), "UN", 1)
        ts.lx()


def test_envelope_counts_and_control_numbers_are_filled_and_check_clean() -> None:
    ib = builder()
    claim_file(ib)
    data = ib.to_bytes()
    assert data.startswith(b"ISA*00*          *00*          *ZZ*HUBSENDER      *ZZ*CLEARINGHOUSE  ")
    assert b"*260304*0506*^*00501*000000042*0*P*:~" in data
    report = check(data)
    assert report.ok, report.errors()
    assert dict(report.kinds()) == {"837P": 1}
    lines = data.decode().split("~")
    assert lines[1] == "GS*HC*HUBSENDER*CH*20260304*0506*1*X*005010X222A1"
    assert lines[2] == "ST*837*0001*005010X222A1"
    assert lines[-4:] == ["SE*16*0001", "GE*1*1", "IEA*1*000000042", ""]


def test_isa_is_always_106_characters() -> None:
    for sender in ("A", "X" * 15):
        ib = builder(sender=Party("01", sender))
        claim_file(ib, 1)
        assert ib.render().index("~") == 105


def test_hl_numbers_parents_and_child_flags() -> None:
    ib = builder()
    claim_file(ib, 2)
    hls = [s.elements for s in tokenize(ib.to_bytes()) if s.id == "HL"]
    assert hls == [
        ("1", "", "20", "1"),
        ("2", "1", "22", "1"),
        ("3", "2", "23", "0"),
        ("4", "1", "22", "1"),
        ("5", "4", "23", "0"),
    ]


def test_lx_restarts_per_claim_and_hl() -> None:
    ib = builder()
    claim_file(ib, 2)
    assert [s.element(1) for s in tokenize(ib.to_bytes()) if s.id == "LX"] == ["1", "2"] * 2


def test_composites_repetitions_decimals_and_trailing_empties() -> None:
    ib = builder()
    ts = ib.group("HB", "005010X279A1", sender_id="A", receiver_id="B").transaction("271")
    ts.segment("EB", "1", "IND", None, ["30", "1"], None, None, None, None, None)
    ts.segment("AMT", "B6", Decimal("1175.40"))
    ts.segment("CAS", "CO", "45", Decimal("-0.00"), None)
    ts.segment("SVC", ("HC", "99213", "", ""), 7)
    body = [s.render() for s in tokenize(ib.to_bytes()) if s.id in ("EB", "AMT", "CAS", "SVC")]
    assert body == ["EB*1*IND**30^1", "AMT*B6*1175.4", "CAS*CO*45*0", "SVC*HC:99213*7"]


def test_configurable_delimiters_and_line_breaks() -> None:
    ib = builder(delimiters=Delimiters("|", ">", "!", "\n"))
    claim_file(ib, 1)
    text = ib.render()
    assert text[3] == "|" and text[104:106] == ">\n"
    assert "SV1|HC>99213|100.5|UN|1\n" in text
    assert check(text.encode()).ok
    crlf = builder()
    claim_file(crlf, 1)
    assert crlf.render(line_breaks=True).count("~\n") == crlf.render().count("~")


@pytest.mark.parametrize("value", ["A*B", "A~B", "A:B", "A^B", "line\nbreak", "\x00"])
def test_a_delimiter_or_control_character_in_a_value_is_refused(value: str) -> None:
    ib = builder()
    ts = ib.group("HC", "005010X222A1", sender_id="A", receiver_id="B").transaction("837")
    with pytest.raises(BuildError) as caught:
        ts.segment("NM1", "IL", "1", value)
    assert caught.value.location is not None and str(caught.value.location).startswith("NM103")


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_an_amount_that_is_not_finite_is_refused_at_its_element(amount: Decimal) -> None:
    ts = builder().group("HC", "005010X222A1", sender_id="A", receiver_id="B").transaction("837")
    with pytest.raises(BuildError) as caught:
        ts.segment("AMT", "B6", amount)
    assert caught.value.location is not None and str(caught.value.location).startswith("AMT02")


@pytest.mark.parametrize(
    "segment_id", ["ISA", "GS", "ST", "SE", "GE", "IEA", "HL", "LX", "nm1", "N"]
)
def test_owned_or_invalid_segment_ids_are_refused(segment_id: str) -> None:
    ts = builder().group("HC", "V", sender_id="A", receiver_id="B").transaction("837")
    with pytest.raises(BuildError):
        ts.segment(segment_id, "1")


@pytest.mark.parametrize(
    "kw",
    [
        {"control_number": 0},
        {"control_number": 1_000_000_000},
        {"sender": Party("ZZ", "X" * 16)},
        {"receiver": Party("ZZ", "")},
        {"usage": "Q"},
        {"delimiters": Delimiters("*", "*", "^", "~")},
        {"delimiters": Delimiters("*", ":", "", "~")},
    ],
)
def test_bad_interchange_settings_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(BuildError):
        builder(**kw)


def test_structures_that_cannot_be_valid_are_refused() -> None:
    ib = builder()
    with pytest.raises(BuildError, match="functional group or a TA1"):
        ib.render()
    ib = builder()
    ib.group("HC", "V", sender_id="A", receiver_id="B")
    with pytest.raises(BuildError, match="no transaction set"):
        ib.render()
    ib = builder()
    ib.group("HC", "V", sender_id="A", receiver_id="B").transaction("837")
    with pytest.raises(BuildError, match="no segments"):
        ib.render()
    ib = builder()
    g = ib.group("HC", "V", sender_id="A", receiver_id="B")
    with pytest.raises(BuildError, match="GS06 1 is already used"):
        ib.group("HC", "V", sender_id="A", receiver_id="B", control_number=1)
    g.transaction("837", control_number=3)
    with pytest.raises(BuildError, match="ST02 0003"):
        g.transaction("837", control_number=3)


def test_hl_parent_rules() -> None:
    g = builder().group("HC", "V", sender_id="A", receiver_id="B")
    one, two = g.transaction("837"), g.transaction("837")
    top = one.hl(None, "20")
    with pytest.raises(BuildError, match="same transaction set"):
        two.hl(top, "22")
    leaf = one.hl(top, "22", child=False)
    with pytest.raises(BuildError, match="declared without children"):
        one.hl(leaf, "23")
    no_hl04 = one.hl(top, "PT", with_hl04=False)
    with pytest.raises(BuildError):
        one.hl(no_hl04, "23")
    one.hl(top, "22", child=True)  # declared with children, gets none
    with pytest.raises(BuildError, match="declared with children but has none"):
        g._interchange.render()


def test_nothing_changes_after_rendering() -> None:
    ib = builder()
    claim_file(ib, 1)
    first = ib.render()
    group = ib._groups[0]
    ts = group._sets[0]
    for change in (
        lambda: ts.segment("NTE", "ADD"),
        lambda: ts.hl(None, "20"),
        ts.lx,
        lambda: group.transaction("837"),
        lambda: ib.group("HC", "V", sender_id="A", receiver_id="B"),
    ):
        with pytest.raises(BuildError, match="cannot change"):
            change()
    assert ib.render() == first


def test_ta1_only_interchange_counts_no_groups() -> None:
    ib = builder()
    ib.ta1("000000050", "260304", "0506", "R", "001")
    text = ib.render()
    assert text.endswith("TA1*000000050*260304*0506*R*001~IEA*0*000000042~")
    assert dict(check(text.encode()).kinds()) == {"TA1": 1}


def test_a_large_file_streams_through_walk() -> None:
    ib = builder()
    claim_file(ib, 2000)
    sets = [
        (i.header.kind, sum(1 for _ in i))
        for i in walk(ib.to_bytes())
        if isinstance(i, TransactionSet)
    ]
    assert sets == [("837P", 1 + 1 + 2000 * 6)]
