"""What each fuzz target does with one input, and what must hold for every input.

One function per parser, shared by the atheris targets (``make fuzz``), the hypothesis tests in
tests/fuzz and the replay of kept crashing inputs (tests/fuzz/regressions/<target>/*.bin). A
target returns normally when the input was handled as the hub promises; anything else raises,
and that is a finding:

* only the hub's own errors (:class:`hub.errors.HubError` and its subclasses) may leave a parser;
  an ``IndexError``, ``KeyError``, ``UnicodeError``, ``RecursionError``... is a bug;
* the ingest steps (``inspect``: header peek and light checks) never raise at all: bad input is
  data for the answer, and the answer (ACK, TA1/999, OperationOutcome) can always be rendered;
* round trips where the code has a writer: an ER7 message re-parsed from its own serialisation
  is the same message; an X12 answer the hub writes is a clean interchange when walked again; a
  FHIR resource written as JSON (and, when it is valid, as XML) reads back equal.

Targets: ``hl7v2`` (MLLP framing, batch split, the tokenizer, the ingest peek and the ACK),
``x12`` (tokenizer, envelope walker, readers, the intake peek and its TA1/999), ``fhir_json``
and ``fhir_xml`` (parsing, structural validation, the hub's own checks, the ingest peek).
All data the targets build is synthetic; nothing is logged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hub.adapters.fhir import formats
from hub.adapters.fhir.negotiation import Format
from hub.adapters.hl7v2.tokenizer import Message, Segment, parse
from hub.adapters.transport.mllp import FrameDecoder
from hub.adapters.x12.report import check
from hub.adapters.x12.tokenizer import Limits, tokenize
from hub.clock import FixedClock
from hub.errors import HubError
from hub.mappings.hl7v2_pm import SUPPORTED_TYPES
from hub.protocols.fhir import ingest as fhir_ingest
from hub.protocols.x12.receiver import X12Intake
from hub.queue.registry import ProcessorRegistry
from hub.services.fhir_checks import check_resource
from hub.services.hl7v2 import PROTOCOL as HL7V2
from hub.services.hl7v2 import Hl7v2Service

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
# bounds on how much of one parsed input a target reads back (the harness must stay linear)
_MAX_SEGMENTS = 64
_MAX_FIELDS = 32
_MAX_REPETITIONS = 4
_MAX_COMPONENTS = 4
# MLLP frames larger than this are refused (FrameTooLarge, a hub error)
_MAX_FRAME = 1 << 20


class Finding(AssertionError):
    """A property that must hold for every input did not (an escape is re-raised as is)."""


# --------------------------------------------------------------------------- HL7 v2


@functools.cache
def _hl7_service() -> Hl7v2Service:
    registry = ProcessorRegistry()
    for message_type in SUPPORTED_TYPES:
        registry.register(HL7V2, message_type, _never_called)
    return Hl7v2Service(registry=registry, clock=FixedClock(NOW))


def _never_called(*_args: Any) -> Any:  # pragma: no cover - processors do not run here
    raise Finding("a processor ran during ingest")


def hl7v2(data: bytes) -> None:
    """MLLP framing of ``data`` (cut in two at a point ``data`` chooses), then every payload,
    and ``data`` itself, through the ingest peek, the ACK and the tokenizer."""
    decoder = FrameDecoder(_MAX_FRAME, log_skipped=False)
    cut = data[0] % (len(data) + 1) if data else 0
    payloads: list[bytes] = []
    try:
        payloads += decoder.feed(data[:cut])
        payloads += decoder.feed(data[cut:])
    except HubError:
        pass
    for raw in (data, *payloads):
        hl7v2_message(raw)


def hl7v2_message(raw: bytes) -> None:
    """One received HL7 v2 payload, as the ingest adapter sees it."""
    service = _hl7_service()
    parts = service.split(raw)
    for part in parts if parts is not None else [raw]:
        look = service.inspect(part)  # never raises: a bad message is data for its ACK
        ack = service.render(look.document, look.errors, 1)
        if ack is not None:
            answer = parse(ack)  # the hub's ACK is itself a message the hub can read
            if answer.message_code != "ACK":
                raise Finding("the ACK is not an ACK")
        try:
            msg = parse(part)
        except HubError:
            continue
        _read_back(msg)
        _er7_round_trip(msg)


def _read_back(msg: Message) -> None:
    """Read fields the way the mappings do (bounded, so the harness stays linear)."""
    for seg in msg.segments[:_MAX_SEGMENTS]:
        for field in range(1, min(seg.field_count, _MAX_FIELDS) + 1):
            _read_field(seg, field)


def _read_field(seg: Segment, field: int) -> None:
    seg.raw_field(field)
    for rep in range(1, min(seg.repetitions(field), _MAX_REPETITIONS) + 1):
        for comp in range(1, _MAX_COMPONENTS + 1):
            seg.get(field, comp, 1, rep)
            seg.get(field, comp, 2, rep)


def _er7_round_trip(msg: Message) -> None:
    """serialise → parse → serialise is a fixed point, segment by segment."""
    text = msg.to_er7()
    again = parse(msg.encode(), charset=msg.encoding)
    if again.to_er7() != text:
        raise Finding("ER7 round trip changed the message")
    if [s.name for s in again.segments] != [s.name for s in msg.segments]:
        raise Finding("ER7 round trip changed the segments")


# --------------------------------------------------------------------------- X12


@functools.cache
def _x12_intake() -> X12Intake:
    return X12Intake()


def x12(data: bytes) -> None:
    """The intake peek and its answer, the readers, and the tokenizer in small chunks."""
    intake = _x12_intake()
    look = intake.inspect(data)  # never raises: envelope errors are the answer's content
    if look.document is None:
        raise Finding("the X12 peek returned no document")
    document = replace(look.document, answer_number=7, answered_at=NOW)
    answer = intake.render(document, list(look.errors), 1)  # never raises
    if answer is not None:
        report = check(answer)
        if not report.ok:
            raise Finding("the hub's TA1/999 is not a clean interchange")
    _x12_readers(data)
    _x12_chunking(data)


def _x12_readers(data: bytes) -> None:
    # summarise walks in reporting mode and reads every known set in full; it catches hub
    # errors itself, so anything that leaves it is an escape
    from hub.adapters.x12.readers.summary import summarise

    summarise(data)


def _x12_chunking(data: bytes) -> None:
    """Any chunking gives the same segments (or the same hub error)."""

    def run(chunk_size: int) -> tuple[list[tuple[str, tuple[str, ...], int]], str | None]:
        out: list[tuple[str, tuple[str, ...], int]] = []
        try:
            for seg in tokenize(data, Limits(chunk_size=chunk_size)):
                out.append((seg.id, seg.elements, seg.offset))
        except HubError as exc:
            return out, exc.code + str(exc)
        return out, None

    if run(1 << 16) != run(7):
        raise Finding("the X12 tokenizer depends on how the input is chunked")


# --------------------------------------------------------------------------- FHIR


def fhir_json(data: bytes) -> None:
    _fhir(data, Format.JSON)


def fhir_xml(data: bytes) -> None:
    _fhir(data, Format.XML)


def _fhir(data: bytes, fmt: Format) -> None:
    look = fhir_ingest.inspect(data)  # never raises
    answer = fhir_ingest.render(look.document, look.errors, 1)
    if answer is None or formats.parse_json(answer).get("resourceType") != "OperationOutcome":
        raise Finding("the FHIR ingest answer is not an OperationOutcome")
    try:
        resource = fmt.parse(data)
    except HubError:
        return
    errors = check_resource(resource)  # every finding as data; raises nothing
    if formats.parse_json(formats.dump_json(resource)) != resource:
        raise Finding("FHIR JSON round trip changed the resource")
    if errors:
        return
    try:
        written = formats.dump_xml(resource)
    except HubError:
        return  # a structurally valid resource the XML writer refuses is not a crash
    if _comparable(formats.parse_xml(written)) != _comparable(resource):
        raise Finding("FHIR XML round trip changed the resource")


def _comparable(value: Any) -> Any:
    """``value`` as XML can say it: each narrative ``div`` in canonical XML (the XHTML may be
    re-serialised, ``&quot;`` as ``"``: the same narrative, FHIR narrative.html) and an
    element whose JSON value is ``null`` absent (XML has no null; the models read both alike)."""
    if isinstance(value, dict):
        return {
            k: _c14n(v) if k == "div" and isinstance(v, str) else _comparable(v)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _c14n(div: str) -> bytes:
    from lxml import etree

    out: bytes = etree.tostring(etree.fromstring(div.encode()), method="c14n")
    return out


TARGETS: dict[str, Callable[[bytes], None]] = {
    "hl7v2": hl7v2,
    "x12": x12,
    "fhir_json": fhir_json,
    "fhir_xml": fhir_xml,
}


def run_one(target: str, data: bytes) -> None:
    """One input through one target (each target catches the hub errors it expects)."""
    TARGETS[target](data)
