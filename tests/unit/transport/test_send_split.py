"""Pure helpers behind ``hub send``: file splitting, MSH-15 NE detection, MSA-1."""

from __future__ import annotations

from hub.protocols.hl7v2.cli import ack_code, split_messages, wants_no_ack

A = b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101||ADT^A04|C1|P|2.5.1"
B = b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101||ADT^A08|C2|P|2.5.1"
PID = b"PID|1||MRN1^^^CLINIC^MR"


def test_split_handles_every_line_ending_and_bom() -> None:
    expected = [A + b"\r" + PID + b"\r", B + b"\r"]
    for eol in (b"\r", b"\n", b"\r\n"):
        data = b"\xef\xbb\xbf" + eol.join([A, PID, b"", B]) + eol + eol
        assert split_messages(data) == expected, eol


def test_split_drops_batch_envelope() -> None:
    data = b"\r".join([b"FHS|^~\\&", b"BHS|^~\\&", A, PID, B, b"BTS|2", b"FTS|1"])
    assert split_messages(data) == [A + b"\r" + PID + b"\r", B + b"\r"]


def test_split_empty_file() -> None:
    assert split_messages(b"\xef\xbb\xbf\n\n") == []


def test_wants_no_ack_reads_msh_15() -> None:
    base = b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101||ADT^A04|C1|P|2.5.1|||"
    assert wants_no_ack(base + b"NE|AL\r")
    assert not wants_no_ack(base + b"AL|NE\r")  # MSH-16 NE does not silence the accept ACK
    assert not wants_no_ack(A + b"\r")
    assert not wants_no_ack(b"garbage")


def test_ack_code() -> None:
    assert ack_code(b"MSH|^~\\&|HUB\rMSA|AE|C1\rERR|||101\r") == "AE"
    assert ack_code(b"MSH#^~\\&#HUB\rMSA#CA#C1\r") == "CA"
    assert ack_code(b"MSH|^~\\&|HUB\r") is None
