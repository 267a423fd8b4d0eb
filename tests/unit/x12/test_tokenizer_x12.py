"""The streaming tokenizer: delimiters from ISA, chunking, BOM, line breaks, limits."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pytest
from x12_factory import BODY_835, interchange, isa

from hub.adapters.x12 import errors as e
from hub.adapters.x12.tokenizer import Limits, Tokenizer, tokenize


def ids(data: bytes, **kw: int) -> list[str]:
    return [s.id for s in tokenize(data, Limits(**kw) if kw else None)]


def test_reads_delimiters_from_isa_and_yields_positions_and_offsets() -> None:
    data = interchange(BODY_835).encode()
    segments = list(tokenize(data))
    assert [s.id for s in segments][:4] == ["ISA", "GS", "ST", "BPR"]
    assert [s.position for s in segments] == list(range(1, len(segments) + 1))
    for s in segments:
        assert data[s.offset : s.offset + len(s.id)] == s.id.encode()
    isa_segment = segments[0]
    assert isa_segment.element(6) == "SENDER".ljust(15)  # padding kept for round trips
    assert isa_segment.element(16) == ":"
    assert segments[3].element(2) == "100" and segments[3].element(99) == ""


@pytest.mark.parametrize(
    ("sep", "term", "comp"), [("|", "\n", ">"), ("!", "'", "\\"), ("*", "~", ":")]
)
def test_any_delimiters_declared_by_the_isa(sep: str, term: str, comp: str) -> None:
    body = ["SVC*HC:99213*100*80"]
    text = interchange(body, sep=sep, term=term).replace("HC:99213", f"HC{comp}99213")
    text = text.replace(":" + term, comp + term, 1) if comp != ":" else text
    segments = list(tokenize(text.encode()))
    svc = next(s for s in segments if s.id == "SVC")
    assert segments[0].delimiters.element == sep
    assert segments[0].delimiters.segment == term
    assert svc.components(1) == ("HC", "99213")
    assert svc.component(1, 2) == "99213" and svc.component(1, 3) == ""


def test_bom_and_crlf_line_breaks_are_not_data() -> None:
    plain = interchange(BODY_835).encode()
    broken = b"\xef\xbb\xbf" + interchange(BODY_835, line_break="\r\n").encode()
    assert [s.render() for s in tokenize(plain)] == [s.render() for s in tokenize(broken)]


def test_any_chunking_gives_the_same_segments() -> None:
    data = interchange(BODY_835, BODY_835, line_break="\n").encode()
    expected = [(s.id, s.elements, s.offset) for s in tokenize(data)]
    rng = random.Random(7)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), 15))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert [(s.id, s.elements, s.offset) for s in tokenize(iter(chunks))] == expected
    assert [(s.id, s.elements, s.offset) for s in tokenize(data, Limits(chunk_size=1))] == expected


def test_file_object_is_read_in_chunks_not_whole() -> None:
    data = interchange(*[BODY_835] * 200).encode()

    class Watched(io.BytesIO):
        largest = 0

        def read(self, size: int | None = -1) -> bytes:
            assert size is not None and 0 < size <= 4096
            chunk = super().read(size)
            Watched.largest = max(Watched.largest, len(chunk))
            return chunk

    count = sum(1 for _ in Tokenizer(Watched(data), Limits(chunk_size=4096)))
    assert count == 2 + 200 * 6 + 2  # ISA GS, (ST + 4 + SE) * 200, GE IEA
    assert Watched.largest == 4096


def test_repetitions_split_on_isa11() -> None:
    data = interchange(["EB*1*IND**30^1^33"]).encode()
    eb = next(s for s in tokenize(data) if s.id == "EB")
    assert eb.repetitions(4) == ("30", "1", "33")


def test_segment_over_the_limit_is_refused_without_buffering_the_rest() -> None:
    data = interchange(["NTE*" + "A" * 5000]).encode()
    with pytest.raises(e.SegmentTooLong) as caught:
        ids(data, max_segment_bytes=1000, chunk_size=64)
    assert caught.value.ta1_code == "004"
    assert "longer than 1000 bytes" in caught.value.message


def test_missing_terminator_at_the_end_is_truncated() -> None:
    data = interchange(BODY_835).encode()[:-5]
    with pytest.raises(e.InterchangeError) as caught:
        ids(data)
    assert caught.value.ta1_code == "023"
    assert "truncated" in caught.value.message


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", "023", "empty"),
        (b"\r\n  \n", "023", "empty"),
        (bytes(range(256)) * 4, "022", "binary"),
        (b"ST*835*0001~BPR*I~SE*3*0001~", "022", "transaction set (ST) without"),
        (b"GS*HP*A*B*20260101*1200*1*X*005010X221A1~", "022", "group (GS) without"),
        (b"HELLO WORLD, this is not X12", "022", "does not start with an ISA"),
    ],
)
def test_not_an_interchange(data: bytes, code: str, words: str) -> None:
    with pytest.raises(e.MissingEnvelope) as caught:
        ids(data)
    assert caught.value.ta1_code == code
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("mutate", "code", "words"),
    [
        (lambda s: s.replace("SENDER         ", "SENDER        ", 1), "006", "ISA06 is 14"),
        (lambda s: s.replace("*0*P*", "*00*P*", 1), "019", "ISA14 is 2"),
        (lambda s: s[:82] + "*" + s[83:], "016", "ISA11 is 0"),
        (lambda s: s[:82] + ":" + s[83:], "016", "repetition delimiter"),
        (lambda s: s[:104] + "*" + s[105:], "027", "ISA16"),
        (lambda s: s[:104] + "~" + s[105:], "004", "segment delimiter '~' is the same as the comp"),
        (lambda s: s[:104] + "A" + s[105:], "027", "component delimiter 'A' is not usable"),
        (lambda s: s.replace("*", "A"), "026", "element separator"),
    ],
)
def test_isa_widths_and_delimiter_clashes(mutate: object, code: str, words: str) -> None:
    text = interchange(BODY_835)
    head = mutate(text[:106])  # type: ignore[operator]
    with pytest.raises(e.InterchangeError) as caught:
        ids((head + text[106:]).encode())
    assert caught.value.ta1_code == code
    assert words in caught.value.message


def test_isa_shorter_than_106_at_end_of_file() -> None:
    with pytest.raises(e.InterchangeError) as caught:
        ids(isa()[:60].encode())
    assert caught.value.ta1_code == "023"


def test_invalid_utf8_in_a_segment() -> None:
    data = interchange(["NM1*QC*1*\xff"]).encode().replace("ÿ".encode(), b"\xff")
    with pytest.raises(e.InterchangeError) as caught:
        ids(data)
    assert caught.value.ta1_code == "024"


def test_hostile_shapes_stay_linear_and_bounded() -> None:
    # 30,000 empty elements in one segment, 20,000 repetitions, 10,000 one-byte segments
    wide = "NTE" + "*" * 30_000
    reps = "EB*1*IND**" + "^".join(["30"] * 20_000)
    tiny = ["LQ*HE"] * 10_000
    data = interchange([wide, reps, *tiny]).encode()
    segments = list(tokenize(data, Limits(max_segment_bytes=64 * 1024, chunk_size=777)))
    nte = next(s for s in segments if s.id == "NTE")
    assert len(nte.elements) == 30_000 and nte.element(30_000) == ""
    eb = next(s for s in segments if s.id == "EB")
    assert len(eb.repetitions(4)) == 20_000
    assert sum(s.id == "LQ" for s in segments) == 10_000
    # a terminator that never comes: refused at the limit, not buffered to the end
    read = 0

    def endless() -> Iterator[bytes]:
        nonlocal read
        yield isa().encode() + b"GS*"
        while True:
            read += 4096
            yield b"A" * 4096

    with pytest.raises(e.SegmentTooLong):
        list(tokenize(endless()))
    assert read <= 64 * 1024 + 2 * 4096
