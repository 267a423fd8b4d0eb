"""Property tests for the X12 tokenizer, envelope walker, readers and intake (issue 9 item 3):
any bytes give segments or a hub error and an answer the hub can itself read; what the builder
writes the tokenizer reads back segment for segment, element for element, whatever the
delimiters and chunking; the bytes searched grow linearly with a segment's length (counted).
All data synthetic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fuzz_budget import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from fuzz import targets
from fuzz.seeds import seeds
from fuzz.strategies import raw_inputs, x12_bodies, x12_delimiters
from hub.adapters.x12.builder import InterchangeBuilder, Party
from hub.adapters.x12.delimiters import Delimiters
from hub.adapters.x12.report import check
from hub.adapters.x12.tokenizer import Limits, Tokenizer, tokenize

SEEDS = list(seeds("x12"))


@FUZZ
@given(raw_inputs(SEEDS))
def test_any_bytes_give_segments_or_a_hub_error_and_a_readable_answer(data: bytes) -> None:
    # intake peek, its TA1/999 walked again, the readers, the tokenizer at two chunk sizes
    targets.x12(data)


@st.composite
def built(draw: st.DrawFn) -> tuple[bytes, list[list[str]]]:
    element, component, repetition, segment = draw(x12_delimiters())
    d = Delimiters(element, component, repetition, segment)
    ib = InterchangeBuilder(
        sender=Party("ZZ", "SUBMITTER"),
        receiver=Party("ZZ", "PAYER"),
        control_number=draw(st.integers(1, 999_999_999)),
        timestamp=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        delimiters=d,
    )
    for _ in range(draw(st.integers(1, 2))):
        group = ib.group("HP", "005010X221A1", sender_id="SUBMITTER", receiver_id="PAYER")
        for _ in range(draw(st.integers(1, 2))):
            ts = group.transaction("835")
            for segment_id, values in draw(x12_bodies(d.all())):
                ts.segment(segment_id, *values)
    data = ib.to_bytes(line_breaks=draw(st.booleans()))
    return data, [list(line) for line in ib.lines()]


@FUZZ
@given(built(), st.integers(1, 300))
def test_builder_output_tokenizes_back_to_the_same_segments(
    case: tuple[bytes, list[list[str]]], chunk: int
) -> None:
    data, lines = case
    read = [[s.id, *s.elements] for s in tokenize(data, Limits(chunk_size=chunk))]
    assert read == lines
    report = check(data)
    assert report.ok, report.errors()
    targets.x12(data)


class _CountingBuffer(bytearray):
    """The tokenizer's buffer, counting the bytes each search may look at."""

    searched = 0

    def find(self, sub: Any, start: Any = 0, end: Any = None) -> int:
        _CountingBuffer.searched += (len(self) if end is None else end) - start
        return super().find(sub, start, end)

    def rfind(self, sub: Any, start: Any = 0, end: Any = None) -> int:
        _CountingBuffer.searched += (len(self) if end is None else end) - start
        return super().rfind(sub, start, end)


def _searched(length: int) -> int:
    isa = "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*PAYER          *260102*0304*^*"
    data = (isa + "00501*000000001*0*P*:~GS*HP*S*R*20260102*0304*1*X*005010X221A1~").encode()
    data += b"ST*835*0001~NTE*" + b"x" * length + b"~SE*3*0001~GE*1*1~IEA*1*000000001~"
    tok = Tokenizer(data, Limits(max_segment_bytes=1 << 20, chunk_size=64))
    tok._buf = _CountingBuffer()
    _CountingBuffer.searched = 0
    segments = list(tok)
    assert len(segments[3].elements[0]) == length  # read whole, and right
    return _CountingBuffer.searched


@pytest.mark.parametrize("length", [4_000, 60_000])
def test_bytes_searched_grow_linearly_with_a_long_segment(length: int) -> None:
    # read in 64-byte chunks, a segment eight times longer is searched about eight times as
    # much (searching from its start on every chunk would be sixty-four times); counted
    small, large = _searched(length), _searched(8 * length)
    assert large <= 9 * small


def test_a_999_that_cannot_echo_a_value_becomes_a_ta1_024() -> None:
    from dataclasses import replace

    from fuzz.seeds import REGRESSIONS
    from hub.protocols.x12.receiver import X12Intake

    raw = (REGRESSIONS / "x12" / "999-echo-holds-a-delimiter.bin").read_bytes()
    intake = X12Intake()
    look = intake.inspect(raw)
    assert look.document is not None and look.errors
    document = replace(look.document, answer_number=9, answered_at=targets.NOW)
    answer = intake.render(document, list(look.errors), 1)
    assert answer is not None and b"~TA1*000000123*260101*1200*R*024~" in answer
