"""Property tests for the HL7 v2 tokenizer, the MLLP framing and the ingest peek (issue 9
item 3): any bytes give a hub error or a message, never another exception; a message the
tokenizer reads is written back byte for byte; work on long fields is linear (counted in
characters split, not timed). All data synthetic."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fuzz_budget import FUZZ, FUZZ_APP
from hypothesis import given
from hypothesis import strategies as st

from fuzz import targets
from fuzz.seeds import seeds
from fuzz.strategies import hl7_messages, raw_inputs
from hub.adapters.hl7v2 import tokenizer
from hub.adapters.hl7v2.peek import peek
from hub.adapters.hl7v2.tokenizer import parse, split_batch
from hub.adapters.transport.mllp import END_BLOCK, START_BLOCK, FrameDecoder, frame
from hub.api.app import create_app
from hub.bootstrap import Hub
from hub.config import Settings
from hub.store import keys
from hub.store.keys import Role

SEEDS = list(seeds("hl7v2"))


@FUZZ
@given(raw_inputs(SEEDS))
def test_any_bytes_give_a_message_or_a_hub_error(data: bytes) -> None:
    # framing, batch split, peek, light checks, the ACK, reading fields, the ER7 round trip
    targets.hl7v2(data)


@FUZZ
@given(hl7_messages())
def test_parse_then_serialise_gives_the_same_bytes_and_every_value_back(
    case: tuple[str, list[list[list[list[str]]]]],
) -> None:
    text, expected = case
    msg = parse(text.encode())
    assert msg.encode() == text.encode()
    assert len(msg.segments) == 1 + len(expected)
    for seg, fields in zip(msg.segments[1:], expected, strict=True):
        for f, reps in enumerate(fields, start=1):
            for r, comps in enumerate(reps, start=1):
                got = [seg.get(f, c, 1, r) for c in range(1, len(comps) + 1)]
                assert got == comps  # escaped with the message's delimiters, read back exact


@FUZZ
@given(
    st.lists(st.binary(max_size=64).filter(lambda b: END_BLOCK not in b), max_size=5),
    st.lists(st.binary(max_size=8).filter(lambda b: START_BLOCK not in b), max_size=6),
    st.integers(1, 16),
)
def test_framed_payloads_survive_noise_between_frames(
    payloads: list[bytes], noise: list[bytes], chunk: int
) -> None:
    stream = b"".join(n + frame(p) for n, p in zip(noise, payloads, strict=False))
    stream += b"".join(frame(p) for p in payloads[len(noise) :])
    decoder = FrameDecoder(1 << 16, log_skipped=False)
    got = [p for i in range(0, len(stream), chunk) for p in decoder.feed(stream[i : i + chunk])]
    # a lone 0x1C at a payload's end followed by the frame's 0x1C 0x0D is still one frame end
    assert got == payloads or any(p.endswith(b"\x1c") for p in payloads)


def _split_work(monkeypatch: pytest.MonkeyPatch, text: str, read: int) -> int:
    """Characters the tokenizer splits while ingest peeks and ``read`` values are read."""
    scanned = [0]
    real = tokenizer._split

    def counting(value: str, sep: str) -> list[str]:
        scanned[0] += len(value)
        return real(value, sep)

    monkeypatch.setattr(tokenizer, "_split", counting)
    msg = parse(text.encode())
    peek(msg)
    nte = msg.segments[-1]
    for rep in range(1, read + 1):
        nte.get(3, 1, 1, rep)
        nte.get(3, 2, 1, rep)
    return scanned[0]


def _long_message(reps: int, width: int) -> str:
    msh = "MSH|^~\\&|EHR|CLINIC|HUB|PRACTICE|20260102||ADT^A01|C1|P|2.5.1"
    field = "~".join(f"V{i}^{'x' * width}" for i in range(reps))
    return f"{msh}\rPID|1||MRN1^^^CLINIC^MR\rNTE|1||{field}\r"


@pytest.mark.parametrize(
    ("reps", "width", "more_reps", "more_width"),
    [(500, 4, 8, 1), (4, 20_000, 1, 8)],
    ids=["repetitions", "wide-components"],
)
def test_work_on_long_fields_is_linear(
    monkeypatch: pytest.MonkeyPatch, reps: int, width: int, more_reps: int, more_width: int
) -> None:
    # eight times the field: at most about eight times the characters split (a quadratic
    # re-split would be sixty-four times); counted, not timed
    small = _split_work(monkeypatch, _long_message(reps, width), reps)
    large = _split_work(
        monkeypatch, _long_message(reps * more_reps, width * more_width), reps * more_reps
    )
    assert large <= 8 * 8 * small // 7  # 8x, plus the fixed MSH and PID


def test_a_long_escaped_field_reads_back_whole() -> None:
    value = "A\\F\\B\\X41\\" * 50_000  # 500,000 characters of escapes in one component
    msg = parse(f"MSH|^~\\&|A|B|C|D|20260102||ADT^A01|C1|P|2.5.1\rNTE|1||{value}\r".encode())
    assert msg.get("NTE-3") == "A|BA" * 50_000


@pytest.fixture
def api(make_hub: Any, sqlite_settings: Settings) -> Iterator[TestClient]:
    hub: Hub = make_hub(sqlite_settings)
    with hub.uow() as uow:
        _, token = keys.create(uow.conn, name="fuzz", role=Role.FEED, now=hub.clock.now())
        uow.commit()
    with TestClient(create_app(hub), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _acked(response: Any) -> str:
    assert response.status_code == 200, response.text[:200]
    ack = parse(response.content)
    assert ack.message_code == "ACK"
    return ack.get("MSA-1")


def test_msh_alone_on_its_line_is_answered_ar_not_500(api: TestClient) -> None:
    # found by fuzzing: reading MSH-18 from a header line of just "MSH" raised IndexError
    assert _acked(api.post("/hl7v2", content=b"MSH\r\x00\x00\x00\x00")) == "AR"


def test_a_batch_header_without_separators_is_a_bad_message_not_an_empty_batch(
    api: TestClient,
) -> None:
    # found by fuzzing: "FHS" alone was answered as an empty batch, with no ACK code at all
    for body in (b"FHS", b"BHS\r", b"FHSX"):
        assert _acked(api.post("/hl7v2", content=body)) == "AR"
    empty = api.post("/hl7v2", content=b"FHS|^~\\&\rFTS|0\r")
    assert empty.content.startswith(b"BHS|") and b"BTS|0" in empty.content


def test_any_body_posted_is_acknowledged(api: TestClient) -> None:
    @FUZZ_APP
    @given(raw_inputs(SEEDS))
    def post(body: bytes) -> None:
        response = api.post("/hl7v2", content=body)
        if response.status_code == 204:  # enhanced mode asked for no accept ACK
            return
        if response.content.startswith(b"BHS"):  # a batch: one ACK per message it held
            assert response.status_code == 200, response.text[:200]
            acks = split_batch(response.content)
            if not acks:  # an empty batch is answered by an empty batch
                assert not any(line[:3] == b"MSH" for line in body.splitlines())
            for ack in acks:
                assert parse(ack).get("MSA-1") in ("AA", "AE", "AR", "CA", "CE", "CR")
            return
        assert _acked(response) in ("AA", "AE", "AR", "CA", "CE", "CR")

    post()
