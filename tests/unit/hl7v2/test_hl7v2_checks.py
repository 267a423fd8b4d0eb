"""Light ACK-path validation, peek/lanes and hl7apy translation. Synthetic messages only."""

from __future__ import annotations

import pytest

from hub.adapters.hl7v2 import validate
from hub.adapters.hl7v2.checks import check, valid_dtm
from hub.adapters.hl7v2.errors import ack_code, code_0357
from hub.adapters.hl7v2.peek import peek
from hub.adapters.hl7v2.tokenizer import parse
from hub.errors import HubError, Severity

SUPPORTED = frozenset({"ADT^A01", "ADT^A04", "ADT^A40", "SIU^*", "DFT^P03"})


def adt(
    trigger: str = "A01",
    version: str = "2.5.1",
    pid3: str = "X9^^^OTHER^PI~M1^^^CLINIC^MR",
    dob: str = "19800214",
    extra: str = "",
) -> str:
    return (
        f"MSH|^~\\&|EHR|CLINIC^1.2^ISO|HUB|PR|20240101||ADT^{trigger}|C1|P|{version}\r"
        f"EVN|{trigger}|20240101\rPID|1||{pid3}||TEST^A||{dob}|F\r"
        f"PV1|1|O|||||||||||||||||||||||||||||||||||||||||||20240101080000\r{extra}"
    )


def codes(text: str, supported: frozenset[str] = SUPPORTED) -> list[tuple[int, str]]:
    return [(code_0357(e), str(e.location)) for e in check(parse(text), supported)]


def test_valid_message_has_no_errors() -> None:
    assert check(parse(adt()), SUPPORTED) == []


@pytest.mark.parametrize("version", ["2.0", "3.0", "", "2.9"])
def test_unsupported_version_203(version: str) -> None:
    assert codes(adt(version=version)) == [(203, "MSH-12.1")]


@pytest.mark.parametrize("version", ["2.1", "2.3", "2.3.1", "2.4", "2.5", "2.7.1", "2.8.2"])
def test_supported_versions(version: str) -> None:
    assert codes(adt(version=version)) == []


def test_unknown_message_type_200_and_trigger_201() -> None:
    assert codes(adt().replace("ADT^A01", "ORU^R01")) == [(200, "MSH-9.1")]
    assert codes(adt(trigger="A99")) == [(201, "MSH-9.2")]
    assert codes(adt(trigger="A99"), frozenset({"ADT^*"})) == []
    assert codes(adt().replace("ADT^A01", "ORU^R01"), frozenset({"*"})) == []
    assert ack_code(check(parse(adt(trigger="A99")), SUPPORTED)) == "AR"


def test_unsupported_processing_id_202() -> None:
    assert codes(adt().replace("|C1|P|", "|C1|X|")) == [(202, "MSH-11.1")]


@pytest.mark.parametrize("pid3", ["", '""', "^^^CLINIC^MR"])
def test_missing_pid3_is_ae_101_at_pid3(pid3: str) -> None:
    errors = check(parse(adt(pid3=pid3)), SUPPORTED)
    assert [(code_0357(e), str(e.location)) for e in errors] == [(101, "PID-3")]
    assert ack_code(errors) == "AE"
    assert errors[0].location is not None
    assert (errors[0].location.segment, errors[0].location.field) == ("PID", 3)


def test_missing_pid_segment_100() -> None:
    text = "MSH|^~\\&|EHR|CLINIC|HUB|PR|20240101||ADT^A01|C1|P|2.5\rEVN|A01|20240101\r"
    assert codes(text) == [(100, "PID")]


@pytest.mark.parametrize("dob", ["19801345", "1980021", "2024-01-01", "19800230", "20240101+25"])
def test_malformed_date_is_ae_102(dob: str) -> None:
    errors = check(parse(adt(dob=dob)), SUPPORTED)
    assert [(code_0357(e), str(e.location)) for e in errors] == [(102, "PID-7")]
    assert ack_code(errors) == "AE"


def test_dates_in_later_segments_carry_their_location() -> None:
    siu = (
        "MSH|^~\\&|EHR|CLINIC|HUB|PR|20240101||SIU^S12|C1|P|2.5\r"
        "SCH|1|F1|||||||||^^^2024013210\rAIS|1||CODE|20240101\rAIS|2||CODE|2024XX\r"
    )
    # SCH-11.4 is read only without AIS-4 / TQ1-7 (hl7v2_siu), so here only AIS[2]-4 counts
    assert codes(siu) == [(102, "AIS-4")]
    errors = check(parse(siu), SUPPORTED)
    assert errors[0].location is not None
    assert errors[0].location.sequence == 2
    v23 = siu.split("\rAIS|", maxsplit=1)[0] + "\r"
    assert codes(v23) == [(102, "SCH-11.4")]


def test_merge_needs_mrg1_and_siu_needs_sch2_and_dft_needs_ft1() -> None:
    assert codes(adt(trigger="A40", extra="MRG|\r")) == [(101, "MRG-1")]
    assert codes(adt(trigger="A40")) == [(100, "MRG")]
    assert codes(adt(trigger="A40", extra="MRG|OLD1^^^CLINIC^MR\r")) == []
    siu = "MSH|^~\\&|EHR|CLINIC|HUB|PR|20240101||SIU^S12|C1|P|2.5\rSCH|1|\r"
    assert codes(siu) == [(101, "SCH-2")]
    dft = "MSH|^~\\&|EHR|CLINIC|HUB|PR|20240101||DFT^P03|C1|P|2.5\rPID|1||M1\r"
    assert codes(dft) == [(100, "FT1")]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2024", True),
        ("202402", True),
        ("20240229", True),
        ("20230229", False),
        ("202402291230", True),
        ("20240229123059.1234", True),
        ("20240229123059.12345", False),
        ("20240229123059-0500", True),
        ("202402291260", False),
        ("2024022924", False),
        ("20240431", False),
        ("2024022", False),
        ("abcd", False),
        ("2024\u0663\u0663", False),
    ],
)
def test_valid_dtm(value: str, ok: bool) -> None:
    assert valid_dtm(value) is ok


def test_peek_lanes_and_refs() -> None:
    head = peek(parse(adt(trigger="A40", extra="MRG|OLD1^^^CLINIC^MR~OLDX^^^Z^PI\r")))
    assert head.sender == "EHR|CLINIC"
    assert head.receiver == "HUB|PR"
    assert head.type == "ADT^A40"
    assert head.structure == "ADT_A39"
    assert head.lane_keys == ("CLINIC/M1", "CLINIC/OLD1")
    assert head.patient_refs == ("X9", "M1", "OLD1", "OLDX")


def test_peek_without_mr_uses_first_and_without_pid_no_lane() -> None:
    assert peek(parse(adt(pid3="A7^^^X^PI~B8^^^X^PN"))).lane_key == "CLINIC/A7"
    no_pid = "MSH|^~\\&|EHR|CLINIC|HUB|PR|20240101||SIU^S12|C1|P|2.5\rSCH|1|F1\r"
    head = peek(parse(no_pid))
    assert head.lane_keys == ()
    assert head.patient_refs == ()


VALID_25 = (
    "MSH|^~\\&|EHR|CLINIC|HUB|PR|20240101||ADT^A04^ADT_A04|C1|P|2.5\r"
    "EVN|A04|20240101\rPID|1||M1^^^CLINIC^MR||TEST^A\rPV1|1|O\r"
)


def test_validate_structure_modes() -> None:
    assert validate.validate_structure(VALID_25, "ADT_A01", "2.5", "off") == []
    assert validate.validate_structure(VALID_25, "ADT_A01", "2.5", "strict") == []
    no_pv1 = VALID_25.replace("PV1|1|O\r", "")
    strict = validate.validate_structure(no_pv1, "ADT_A01", "2.5", "strict")
    tolerant = validate.validate_structure(no_pv1, "ADT_A01", "2.5", "tolerant")
    assert [e.severity for e in strict] == [Severity.ERROR]
    assert [e.severity for e in tolerant] == [Severity.WARNING]
    assert code_0357(strict[0]) == 100
    assert str(strict[0].location) == "PV1"


def test_hl7apy_exceptions_do_not_leak() -> None:
    # garbage hl7apy cannot parse: its own exception comes back as a hub error
    errors = validate.validate_structure("MSH|^~\\&|A\rPID|1||SECRET", "X_Y", "2.5", "strict")
    assert len(errors) == 1
    assert isinstance(errors[0], HubError)
    assert "SECRET" not in str(errors[0])


def test_every_hl7apy_exception_class_is_translated() -> None:
    from hl7apy import exceptions as hx

    for name in dir(hx):
        cls = getattr(hx, name)
        if isinstance(cls, type) and issubclass(cls, hx.HL7apyException):
            err = validate.translate(cls.__new__(cls))
            assert isinstance(err, HubError)
            assert code_0357(err) in (100, 101, 102, 203)
    assert code_0357(validate.translate(KeyError("PHI"))) == 207


def test_dft_without_a_transaction_date_is_refused_at_the_ack() -> None:
    raw = (
        "MSH|^~\\&|EHR|CLINIC|HUB|PM|20260105083000||DFT^P03^DFT_P03|D1|P|2.5.1\r"
        "EVN|P03|20260105083000\rPID|1||M1^^^CLINIC^MR\r"
        "FT1|1|T1||20260105|CG|||||1|125.00||||||||||||||99213\r"
        "FT1|2|T2|||CG|||||1|80.00||||||||||||||99214\r"
    )
    errors = check(parse(raw), {"DFT^P03"})
    assert [(e.code, str(e.location)) for e in errors] == [("required_field_missing", "FT1-4")]
    assert errors[0].location is not None and errors[0].location.sequence == 2


@pytest.mark.parametrize("control", ["", " ", '""'])
def test_missing_control_id_is_ar_101_at_msh10(control: str) -> None:
    msg = parse(adt().replace("|C1|P|", f"|{control}|P|"))
    errors = check(msg, SUPPORTED)
    assert [(code_0357(e), str(e.location)) for e in errors] == [(101, "MSH-10")]
    assert ack_code(errors) == "AR"


@pytest.mark.parametrize(
    ("dob", "sex", "text"),
    [
        ("19801345", "F", "[data_type] impossible date/time at PID-7"),
        ("1980", "F", "[data_type] malformed date at PID-7"),
        ("19800214250000", "F", "[data_type] impossible date/time at PID-7"),
        ("19800214", "Q", "[table_value] value not in table 0001 at PID-8"),
    ],
)
def test_the_err_text_says_what_is_wrong_and_never_the_value(dob: str, sex: str, text: str) -> None:
    # the ACK-path checks and the mappings' readers share one rule per kind (fields.py): the
    # check answers the same PHI-free text the mapping would raise
    errors = check(parse(adt(dob=dob).replace(f"|{dob}|F\r", f"|{dob}|{sex}\r")), SUPPORTED)
    assert [str(e) for e in errors] == [text]
