"""MLLP framing (MLLP r2 section 2.1): pure decoder, no sockets."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.adapters.transport.mllp import (
    END_BLOCK,
    START_BLOCK,
    FrameDecoder,
    FrameTooLarge,
    frame,
)
from hub.errors import InputError

MSG1 = (
    b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101120000||ADT^A04|MSG0001|P|2.5.1\r"
    b"PID|1||12345^^^CLINIC^MR\r"
)
MSG2 = b"MSH|^~\\&|EHR|CLINIC|HUB|PM|20240101120001||ADT^A08|MSG0002|P|2.5.1\r"
# payload bytes that look like framing: a lone 0x1C, a 0x1C followed by something else
TRICKY = b"OBX|1|ED|\x1cX\x1c|\x0b\r"


def feed_chunks(decoder: FrameDecoder, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def test_constants_and_frame() -> None:
    assert START_BLOCK == b"\x0b"
    assert END_BLOCK == b"\x1c\x0d"
    assert frame(b"abc") == b"\x0babc\x1c\x0d"


def test_one_frame_in_one_read() -> None:
    dec = FrameDecoder(1024)
    assert dec.feed(frame(MSG1)) == [MSG1]
    assert not dec.in_frame
    assert dec.discarded == 0


def test_several_frames_in_one_read() -> None:
    dec = FrameDecoder(1024)
    assert dec.feed(frame(MSG1) + frame(MSG2) + frame(TRICKY)) == [MSG1, MSG2, TRICKY]


def test_split_at_every_byte_offset() -> None:
    stream = frame(MSG1) + frame(TRICKY) + frame(MSG2)
    for cut in range(len(stream) + 1):
        dec = FrameDecoder(1024)
        got = feed_chunks(dec, [stream[:cut], stream[cut:]])
        assert got == [MSG1, TRICKY, MSG2], cut
        assert dec.discarded == 0


def test_split_between_end_block_bytes() -> None:
    dec = FrameDecoder(1024)
    assert dec.feed(START_BLOCK + MSG2 + b"\x1c") == []
    assert dec.in_frame
    assert dec.feed(b"\x0d") == [MSG2]
    assert not dec.in_frame


def test_byte_by_byte() -> None:
    stream = frame(MSG1) + frame(MSG2)
    dec = FrameDecoder(1024)
    assert feed_chunks(dec, [bytes([b]) for b in stream]) == [MSG1, MSG2]


def test_lone_fs_inside_payload_is_data() -> None:
    dec = FrameDecoder(1024)
    assert dec.feed(START_BLOCK + b"A\x1c") == []
    assert dec.feed(b"B" + END_BLOCK) == [b"A\x1cB"]


def test_junk_between_frames_is_counted_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    dec = FrameDecoder(1024, peer="127.0.0.1:5000")
    with caplog.at_level(logging.WARNING, logger="hub.adapters.transport.mllp"):
        got = dec.feed(b"garbage" + frame(MSG1) + b"\n\r\n" + frame(MSG2) + b"tail")
    assert got == [MSG1, MSG2]
    assert dec.discarded == len(b"garbage") + 3 + len(b"tail")
    assert caplog.records, "junk must be logged"
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "garbage" not in text and "tail" not in text
    assert sum(r.__dict__["count"] for r in caplog.records) == dec.discarded


def test_empty_frame_is_returned_as_empty_payload() -> None:
    assert FrameDecoder(10).feed(frame(b"") + frame(b"x")) == [b"", b"x"]


def test_frame_exactly_at_limit_is_accepted() -> None:
    dec = FrameDecoder(len(MSG1))
    assert dec.feed(frame(MSG1)) == [MSG1]
    # the trailing 0x1C of a block at the limit is not counted as payload
    dec = FrameDecoder(3)
    assert dec.feed(START_BLOCK + b"abc\x1c") == []
    assert dec.feed(b"\x0d") == [b"abc"]


def test_oversized_complete_frame_raises() -> None:
    dec = FrameDecoder(10)
    with pytest.raises(FrameTooLarge) as info:
        dec.feed(frame(b"x" * 11))
    assert isinstance(info.value, InputError)
    assert info.value.code == "too_large"
    assert info.value.limit == 10


def test_oversized_open_frame_raises_before_end_arrives() -> None:
    dec = FrameDecoder(100)
    dec.feed(START_BLOCK + b"x" * 60)
    with pytest.raises(FrameTooLarge) as info:
        dec.feed(b"y" * 60)
    assert info.value.size > 100
    # the error text names sizes, never content
    assert "x" * 5 not in str(info.value)


# every 0x1C in a generated payload is followed by a data byte, so no payload holds END_BLOCK
frames_st = st.lists(
    st.binary(max_size=60).map(lambda b: b.replace(b"\x1c", b"\x1cA")), min_size=1, max_size=5
)


@settings(max_examples=200, deadline=None)
@given(payloads=frames_st, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_any_chunking_yields_the_same_payloads(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(p) for p in payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    dec = FrameDecoder(1024)
    assert feed_chunks(dec, chunks) == payloads
    assert not dec.in_frame
