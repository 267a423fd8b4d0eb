"""The hub's ER7 tokenizer: numbering, repetitions, components, escapes, nulls, line endings,
charsets, batches, structure derivation and round trip. All data synthetic."""

from __future__ import annotations

import pytest

from hub.adapters.hl7v2.tokenizer import (
    NULL,
    Delimiters,
    is_batch,
    parse,
    python_codec,
    split_batch,
)
from hub.errors import ParseError

MSH = (
    "MSH|^~\\&|EHR^1.2.3^ISO|CLINIC^2.16.840.1.1^ISO|HUB|PRACTICE|20240105083000||"
    "ADT^A04^ADT_A04|MSG001|P|2.5.1"
)
PID = (
    "PID|1||X77^^^OTHER^PI~M123^^^CLINIC^MR&sub2||TEST^ALPHA^B||19800214|F|||"
    '1 Main St\\S\\Apt 2^^Town^ST^12345||""|'
)
PV1 = "PV1|1|O|||||1234^DOC^ONE"
TEXT = f"{MSH}\r{PID}\r{PV1}\r"


def test_msh_numbering_and_header_properties() -> None:
    msg = parse(TEXT.encode())
    msh = msg.first("MSH")
    assert msh is not None
    assert msh.get(1) == "|"
    assert msh.get(2) == "^~\\&"
    assert msg.get("MSH-9") == "ADT"
    assert msg.message_code == "ADT"
    assert msg.trigger == "A04"
    assert msg.type == "ADT^A04"
    assert msg.control_id == "MSG001"
    assert msg.processing_id == "P"
    assert msg.version == "2.5.1"
    assert msg.sending_application == "EHR^1.2.3^ISO"
    assert msg.sending_facility == "CLINIC^2.16.840.1.1^ISO"
    assert msg.receiving_application == "HUB"
    assert msg.receiving_facility == "PRACTICE"
    assert msg.accept_ack_type == ""
    assert msg.charset == ""
    assert msg.delimiters == Delimiters("|", "^", "~", "\\", "&", None)


def test_repetitions_components_subcomponents() -> None:
    msg = parse(TEXT)
    pid = msg.first("PID")
    assert pid is not None
    assert pid.repetitions(3) == 2
    assert pid.get(3) == "X77"
    assert pid.get(3, 1, 1, 2) == "M123"
    assert msg.get("PID-3[2].4") == "CLINIC"
    assert msg.get("PID-3[2].5") == "MR"
    assert msg.get("PID-3[2].5.2") == "sub2"
    assert msg.get("PID-3[3].1") == ""
    assert msg.get("PID-5.2") == "ALPHA"
    assert msg.get("PID-99") == ""
    assert msg.get("ZZZ-1") == ""
    assert pid.raw_field(11) == "1 Main St\\S\\Apt 2^^Town^ST^12345"
    assert pid.field_count == 14


def test_escapes_are_resolved_on_access_only() -> None:
    msg = parse(TEXT)
    assert msg.get("PID-11.1") == "1 Main St^Apt 2"
    assert msg.first("PID").raw_field(11).startswith("1 Main St\\S\\")  # type: ignore[union-attr]


def test_empty_versus_explicit_null() -> None:
    msg = parse(TEXT)
    assert msg.get("PID-13") == NULL == '""'
    assert msg.get("PID-12") == ""
    assert msg.get("PID-14") == ""


def test_segment_occurrence_in_path() -> None:
    text = f"{MSH}\rNK1|1|ONE^A\rNK1|2|TWO^B\r"
    msg = parse(text)
    assert msg.get("NK1-2") == "ONE"
    assert msg.get("NK1[2]-2") == "TWO"
    assert msg.get("NK1[3]-2") == ""
    assert [s.get(1) for s in msg.all("NK1")] == ["1", "2"]


@pytest.mark.parametrize("ending", ["\r", "\n", "\r\n"])
def test_segment_endings(ending: str) -> None:
    msg = parse(ending.join([MSH, PID, PV1]).encode() + ending.encode())
    assert [s.name for s in msg.segments] == ["MSH", "PID", "PV1"]
    assert msg.get("PV1-7.2") == "DOC"


def test_lone_lf_inside_a_cr_message_is_data() -> None:
    msg = parse(f"{MSH}\rNTE|1||line one\nline two\r")
    assert msg.get("NTE-3") == "line one\nline two"


def test_leading_bom_and_blank_lines() -> None:
    msg = parse(b"\xef\xbb\xbf\r\n" + TEXT.encode())
    assert msg.control_id == "MSG001"


def test_round_trip_is_byte_identical_with_cr() -> None:
    raw = TEXT.encode()
    assert parse(raw).encode() == raw
    assert parse(TEXT.replace("\r", "\n").encode()).encode() == raw


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world", b"PID|1||123\rMSH|^~\\&|A", b"\x00\x01\x02garbage", b"MSH"],
)
def test_no_msh_or_garbage_raises_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse(data)
    assert info.value.location is not None


@pytest.mark.parametrize(
    "header",
    ["MSH|^~\\|A|B", "MSH|^~\\&&|A", "MSH|^~a&|A", "MSH|^~ &|A", "MSH|||A", "MSHX^~\\&X"],
)
def test_bad_encoding_characters(header: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(header + "\rPID|1\r")
    assert info.value.location is not None
    assert info.value.location.path == "MSH-2"


def test_non_default_delimiters_and_truncation_character() -> None:
    msg = parse("MSH#*!@%$#A#B#C#D#20240101##ADT*A01#1#P#2.7\rPID#1##A1!A2*x*y*z*MR\r")
    assert msg.delimiters == Delimiters("#", "*", "!", "@", "%", "$")
    assert msg.get("PID-3[2].5") == "MR"
    assert msg.type == "ADT^A01"


def test_line_that_is_not_a_segment_is_rejected_with_its_line() -> None:
    with pytest.raises(ParseError) as info:
        parse(f"{MSH}\rthis is not a segment\r")
    assert info.value.location is not None
    assert info.value.location.path == "line 2"


def test_msh18_charset_decides_decoding() -> None:
    latin = f"{MSH}||||||8859/1\rPID|1||1^^^A^MR||M\u00fcller\r".encode("latin-1")
    msg = parse(latin)
    assert msg.encoding == "latin-1"
    assert msg.charset == "8859/1"
    assert msg.get("PID-5") == "M\u00fcller"
    utf8 = f"{MSH}||||||UNICODE UTF-8\rPID|1||1||M\u00fcller\r".encode()
    assert parse(utf8).get("PID-5") == "M\u00fcller"


def test_charset_fallbacks() -> None:
    latin = f"{MSH}\rPID|1||1||M\u00fcller\r".encode("latin-1")
    msg = parse(latin)  # no MSH-18: utf-8 fails, latin-1 decodes
    assert msg.encoding == "latin-1"
    assert msg.get("PID-5") == "M\u00fcller"
    assert parse(latin, charset="latin-1").get("PID-5") == "M\u00fcller"
    wrong = f"{MSH}||||||ASCII\rPID|1||1||M\u00fcller\r".encode()
    assert parse(wrong).get("PID-5") == "M\u00fcller"  # declared ASCII fails: utf-8


def test_table_0211_names() -> None:
    assert python_codec("ASCII") == "ascii"
    assert python_codec("8859/15") == "iso8859-15"
    assert python_codec("unicode utf-8") == "utf-8"
    assert python_codec("NOT A SET") is None


def test_hex_escape_is_decoded_per_charset() -> None:
    text = f"{MSH}||||||8859/1\rPID|1||1||M\\XFC\\ller\r"
    assert parse(text.encode("latin-1")).get("PID-5") == "M\u00fcller"
    utf8 = f"{MSH}\rPID|1||1||M\\XC3BC\\ller\r"
    assert parse(utf8.encode()).get("PID-5") == "M\u00fcller"


@pytest.mark.parametrize(
    ("msh9", "structure"),
    [
        ("ADT^A04^ADT_A04", "ADT_A01"),
        ("ADT^A08^ADT_A08", "ADT_A01"),
        ("ADT^A13", "ADT_A01"),
        ("ADT^A40^ADT_A40", "ADT_A39"),
        ("ADT^A47", "ADT_A30"),
        ("ADT^A28^ADT_A28", "ADT_A05"),
        ("SIU^S15^SIU_S15", "SIU_S12"),
        ("SIU^S26", "SIU_S12"),
        ("DFT^P03^DFT_P03", "DFT_P03"),
        ("ZZZ^Z01^ZZZ_Q99", "ZZZ_Q99"),
        ("ZZZ^Z01", "ZZZ_Z01"),
    ],
)
def test_structure_from_table_0354_not_msh_9_3(msh9: str, structure: str) -> None:
    msg = parse(MSH.replace("ADT^A04^ADT_A04", msh9) + "\r")
    assert msg.structure == structure


def test_split_batch() -> None:
    m1 = f"{MSH}\r{PID}\r".encode()
    m2 = f"{MSH.replace('MSG001', 'MSG002')}\r{PID}\r".encode()
    batch = b"FHS|^~\\&|EHR\rBHS|^~\\&|EHR\r" + m1 + m2 + b"BTS|2\rFTS|1\r"
    assert is_batch(batch)
    assert not is_batch(m1)
    assert split_batch(batch) == [m1, m2]
    assert [parse(m).control_id for m in split_batch(b"\xef\xbb\xbf" + batch)] == [
        "MSG001",
        "MSG002",
    ]
    assert split_batch(b"BHS|^~\\&\rBTS|0\r") == []


def test_bad_path_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse(TEXT).get("PID")


@pytest.mark.parametrize(
    "framed",
    [
        b"\xef\xbb\xbfMSH|^~\\&|A\rPID|1\r",
        b"MSH|^~\\&|A\nPID|1\n",
        b"MSH|^~\\&|A\r\nPID|1\r\n\r\n",
        b"\nMSH|^~\\&|A\r\rPID|1",
        b"MSH|^~\\&|A\rPID|1 \t\r\n",
    ],
)
def test_canonical_form_ignores_framing(framed: bytes) -> None:
    from hub.adapters.hl7v2.canonical import canonical

    assert canonical(framed) == b"MSH|^~\\&|A\rPID|1\r"


def test_canonical_form_keeps_content() -> None:
    from hub.adapters.hl7v2.canonical import canonical

    assert canonical(b"MSH|^~\\&|A\rPID|1| x \r") == b"MSH|^~\\&|A\rPID|1| x\r"
    assert canonical(b"MSH|^~\\&|A\rPID|1|a b\r") != canonical(b"MSH|^~\\&|A\rPID|1|ab\r")
