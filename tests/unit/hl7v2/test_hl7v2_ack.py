"""ACK fields exactly right: swap, MSH-9/10/12, MSA-2, ERR (0357 code, location, severity),
enhanced mode (MSH-15 AL/NE/ER/SU), pre-2.5 ERR-1, and reading ACKs back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.adapters.hl7v2.ack import build_ack, build_batch_ack, parse_ack
from hub.adapters.hl7v2.errors import ack_code, code_0357, error_for, location
from hub.adapters.hl7v2.tokenizer import parse
from hub.errors import (
    Conflict,
    HubError,
    ParseError,
    Severity,
    StoreUnavailable,
    UnsupportedError,
    ValidationError,
)

NOW = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)


def message(version: str = "2.5.1", msh15: str = "", msh16: str = "", msh18: str = "") -> str:
    return (
        "MSH|^~\\&|EHR^1.2^ISO|CLINIC^9.9^ISO|HUB|PRACTICE|20240101||ADT^A01^ADT_A01|CTRL-77|P|"
        f"{version}|||{msh15}|{msh16}||{msh18}\rPID|1||M1^^^CLINIC^MR\r"
    )


def segments(ack: bytes) -> list[list[str]]:
    assert ack.endswith(b"\r")
    return [line.split("|") for line in ack.decode().split("\r")[:-1]]


def test_original_mode_aa() -> None:
    ack = build_ack(parse(message()), [], control_id="ACK1", now=NOW)
    assert ack is not None
    msh, msa = segments(ack)
    assert msh[:12] == [
        "MSH",
        "^~\\&",
        "HUB",
        "PRACTICE",
        "EHR^1.2^ISO",
        "CLINIC^9.9^ISO",
        "20240304050607+0000",
        "",
        "ACK^A01^ACK",
        "ACK1",
        "P",
        "2.5.1",
    ]
    assert msa == ["MSA", "AA", "CTRL-77"]


def test_ae_with_err_location_code_and_severity() -> None:
    err = error_for(101, "patient identifier list missing", location("PID", 3))
    ack = build_ack(parse(message()), [err], control_id="ACK2", now=NOW)
    assert ack is not None
    _msh, msa, err_seg = segments(ack)
    assert msa == ["MSA", "AE", "CTRL-77"]
    assert err_seg[1] == ""  # ERR-1 is only for receivers before v2.5
    assert err_seg[2] == "PID^1^3^1"
    assert err_seg[3] == "101^Required field missing^HL70357"
    assert err_seg[4] == "E"
    assert err_seg[8] == "patient identifier list missing"


def test_ar_for_unsupported_and_component_location() -> None:
    err = error_for(201, "unsupported event", location("MSH", 9, 2))
    ack = build_ack(parse(message()), [err], control_id="ACK3", now=NOW)
    assert ack is not None
    _msh, msa, err_seg = segments(ack)
    assert msa[1] == "AR"
    assert err_seg[2] == "MSH^1^9^1^2"
    assert err_seg[3] == "201^Unsupported event code^HL70357"


@pytest.mark.parametrize("version", ["2.3", "2.4"])
def test_pre_25_receivers_get_err_1(version: str) -> None:
    err = error_for(102, "malformed date/time", location("PID", 7))
    ack = build_ack(parse(message(version)), [err], control_id="A", now=NOW)
    assert ack is not None
    msh, _msa, err_seg = segments(ack)
    assert msh[11] == version
    assert err_seg[1] == "PID^1^7^102&Data type error&HL70357"
    assert msh[8] == ("ACK^A01" if version == "2.3" else "ACK^A01^ACK")


def test_v22_msh9_has_no_components() -> None:
    ack = build_ack(parse(message("2.2")), [], control_id="A", now=NOW)
    assert ack is not None
    assert segments(ack)[0][8] == "ACK"


@pytest.mark.parametrize(
    ("msh15", "errors", "expected"),
    [
        ("AL", [], "CA"),
        ("", [], "CA"),  # MSH-16 alone makes enhanced mode; empty MSH-15 means always
        ("NE", [], None),
        ("NE", ["bad"], None),
        ("ER", [], None),
        ("ER", ["bad"], "CE"),
        ("SU", [], "CA"),
        ("SU", ["bad"], None),
        ("AL", ["unsupported"], "CR"),
    ],
)
def test_enhanced_mode(msh15: str, errors: list[str], expected: str | None) -> None:
    found: list[HubError] = []
    for kind in errors:
        number = 101 if kind == "bad" else 200
        found.append(error_for(number, kind, location("PID", 3)))
    ack = build_ack(parse(message(msh15=msh15, msh16="AL")), found, control_id="A", now=NOW)
    if expected is None:
        assert ack is None
    else:
        assert ack is not None
        assert segments(ack)[1][1] == expected


def test_unparseable_input_gets_ar_with_default_delimiters() -> None:
    err = ParseError("no MSH", code="segment_sequence", location=location("MSH"))
    ack = build_ack(None, [err], control_id="ACK9", now=NOW)
    assert ack is not None
    msh, msa, err_seg = segments(ack)
    assert msh[1] == "^~\\&"
    assert msh[8] == "ACK"
    assert msh[11] == "2.5.1"
    assert msa == ["MSA", "AR", ""]
    assert err_seg[2] == "MSH^1"
    assert err_seg[3].startswith("100^")


def test_ack_keeps_sender_delimiters_and_charset() -> None:
    text = "MSH#*!@%#APP#FAC#HUB#PR#20240101##ADT*A01#C1#P#2.5######8859/1\r"
    ack = build_ack(parse(text), [], control_id="A", now=NOW)
    assert ack is not None
    head = ack.decode().split("\r")[0].split("#")
    assert head[1] == "*!@%"
    assert head[2:6] == ["HUB", "PR", "APP", "FAC"]
    assert head[8] == "ACK*A01*ACK"
    assert head[17] == "8859/1"


def test_error_text_is_escaped() -> None:
    err = ValidationError("a|b^c", code="data_type", location=location("PID", 7))
    ack = build_ack(parse(message()), [err], control_id="A", now=NOW)
    assert ack is not None
    assert segments(ack)[2][8] == "a\\F\\b\\S\\c"


@pytest.mark.parametrize(
    ("error", "number"),
    [
        (ParseError("x"), 100),
        (ValidationError("x"), 101),
        (ValidationError("x", code="data_type"), 102),
        (ValidationError("x", code="table_value"), 103),
        (UnsupportedError("x"), 200),
        (UnsupportedError("x", code="no_processor"), 200),
        (UnsupportedError("x", code="unsupported_version"), 203),
        (Conflict("x"), 205),
        (StoreUnavailable("x"), 207),
        (HubError("x"), 207),
    ],
)
def test_0357_mapping(error: HubError, number: int) -> None:
    assert code_0357(error) == number


def test_ack_code_rules() -> None:
    assert ack_code([]) == "AA"
    warning = error_for(205, "held", location("MSH", 10), Severity.WARNING)
    assert ack_code([warning]) == "AA"
    assert ack_code([error_for(102, "x", location("PID", 7))]) == "AE"
    assert ack_code([ParseError("x")]) == "AR"
    assert ack_code([error_for(203, "x", location("MSH", 12))]) == "AR"


def test_parse_ack_round_trip() -> None:
    errs = [
        error_for(101, "missing", location("PID", 3)),
        error_for(102, "date", location("SCH", 11, 4), Severity.WARNING),
    ]
    ack = build_ack(parse(message()), errs, control_id="ACK5", now=NOW)
    assert ack is not None
    result = parse_ack(ack)
    assert result.code == "AE"
    assert not result.accepted
    assert result.control_id_acked == "CTRL-77"
    assert result.control_id == "ACK5"
    assert [code_0357(e) for e in result.errors] == [101, 102]
    assert [str(e.location) for e in result.errors] == ["PID-3", "SCH-11.4"]
    assert [e.severity for e in result.errors] == [Severity.ERROR, Severity.WARNING]
    assert result.errors[0].message == "missing"


def test_parse_ack_reads_v23_err_1() -> None:
    ack = (
        b"MSH|^~\\&|B|B|A|A|2024||ACK^A01|X|P|2.3\r"
        b"MSA|AE|C1|bad\rERR|PID^1^3^101&Required&HL70357\r"
    )
    result = parse_ack(ack)
    assert result.code == "AE"
    assert result.text == "bad"
    assert code_0357(result.errors[0]) == 101
    assert str(result.errors[0].location) == "PID-3"


def test_parse_ack_accepts_ca_and_rejects_non_acks() -> None:
    assert parse_ack(b"MSH|^~\\&|B|B|A|A|2024||ACK|X|P|2.5\rMSA|CA|C9\r").accepted
    with pytest.raises(ParseError):
        parse_ack(b"MSH|^~\\&|B|B|A|A|2024||ADT^A01|X|P|2.5\rPID|1\r")
    with pytest.raises(ParseError):
        parse_ack(b"not an ack")


def test_batch_ack_wraps_acks() -> None:
    a1 = build_ack(parse(message()), [], control_id="1", now=NOW)
    assert a1 is not None
    out = build_batch_ack([a1, b"", a1], now=NOW)
    assert out.startswith(b"BHS|^~\\&|||||20240304050607+0000\r")
    assert out.endswith(b"BTS|2\r")
    assert out.count(b"MSA|AA|CTRL-77") == 2


@pytest.mark.parametrize(("msh15", "msh16"), [(" ", ""), ("", " "), (" ", "  ")])
def test_blank_msh15_and_msh16_are_original_mode(msh15: str, msh16: str) -> None:
    ack = build_ack(parse(message(msh15=msh15, msh16=msh16)), [], control_id="A", now=NOW)
    assert ack is not None
    assert segments(ack)[1][1] == "AA"


def test_padded_msh15_is_read_trimmed() -> None:
    assert build_ack(parse(message(msh15=" NE ", msh16="AL")), [], control_id="A", now=NOW) is None


@pytest.mark.parametrize(
    ("version", "expected"),
    [("9.9", "2.5.1"), ("2.9", "2.5.1"), ("", "2.5.1"), ("2.3", "2.3"), ("2.8.2", "2.8.2")],
)
def test_ack_version_is_one_the_sender_can_parse(version: str, expected: str) -> None:
    from hl7apy.parser import parse_message

    err = error_for(203, "unsupported HL7 version", location("MSH", 12, 1))
    errors = [] if version == expected else [err]
    ack = build_ack(parse(message(version=version)), errors, control_id="A", now=NOW)
    assert ack is not None
    assert segments(ack)[0][11] == expected
    parsed = parse_message(ack.decode(), find_groups=False)
    assert parsed.msh.msh_12.to_er7() == expected
    assert parsed.msa.msa_1.to_er7() == ("AA" if not errors else "AR")
