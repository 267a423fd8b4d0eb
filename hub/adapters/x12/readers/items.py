"""Cut an inbound document into self-contained pieces, one per claim (ADR 0009 work items).

A piece is a whole interchange of its own: the document's ISA and GS (rebuilt from the walked
headers; ISA01-04 authorization and security are not copied), the transaction set's header
segments (an 835's ST..N1 loops, a 277's ST and BHT), the claim's own segments, and trailers
whose counts and control numbers match. So an item is read by the same walker and reader as
its document, and an analyst can edit and replay it alone.

* 835: a piece per CLP loop (2100 with its 2110 lines; LX, TS3 and TS2 stay out), and one piece
  with every PLB of the set (``kind`` ``plb``) when it has any;
* 277CA / 277: a piece per claim level (HL03 ``PT``, ``22``, ``23`` with a TRN or an STC).

Nothing but the current set's header and the current claim is held: memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hub.adapters.x12.delimiters import Delimiters
from hub.adapters.x12.envelope import TransactionSet, walk
from hub.adapters.x12.headers import TransactionHeader
from hub.adapters.x12.readers.segments import Seg
from hub.adapters.x12.readers.walk import segments_of
from hub.adapters.x12.tokenizer import Source

_835_BODY = frozenset({"LX", "CLP", "PLB", "TS3", "TS2"})
_CLAIM_LEVELS = frozenset({"PT", "22", "23"})


@dataclass(frozen=True, slots=True)
class Piece:
    kind: str  # claim | plb
    set_kind: str  # 835, 277CA, 277
    raw: bytes
    key: str  # CLP01 / TRN02 of the claim level; TRN02 of the payment for a plb piece
    set_control_number: str  # ST02 of the document's set


def _isa(h: TransactionHeader) -> str:
    i, d = h.interchange, h.interchange.delimiters
    fields = [
        "ISA", "00", " " * 10, "00", " " * 10, i.sender_qualifier, i.sender_id.ljust(15),
        i.receiver_qualifier, i.receiver_id.ljust(15), i.date, i.time, d.repetition or "U",
        i.version, i.control_number, "0", i.usage, d.component,
    ]  # fmt: skip
    return d.element.join(fields) + d.segment


def render(segments: Iterable[Seg], h: TransactionHeader) -> bytes:
    """``segments`` (starting with ST) wrapped into a one-set interchange with exact trailers."""
    d: Delimiters = h.interchange.delimiters
    g = h.group
    gs = ["GS", g.functional_id, g.sender_id, g.receiver_id, g.date, g.time, g.control_number,
          g.agency, g.version]  # fmt: skip
    out = [_isa(h), d.element.join(gs) + d.segment]
    count = 0
    for seg in segments:
        count += 1
        out.append(d.element.join(seg.elements) + d.segment)
    se = ["SE", str(count + 1), h.control_number]
    out.append(d.element.join(se) + d.segment)
    out.append(d.element.join(["GE", "1", g.control_number]) + d.segment)
    out.append(d.element.join(["IEA", "1", h.interchange.control_number]) + d.segment)
    return "".join(out).encode("latin-1")


def _pieces_835(ts: TransactionSet) -> Iterator[Piece]:
    h = ts.header
    header: list[Seg] = []
    claim: list[Seg] = []
    plbs: list[Seg] = []
    trace = ""
    in_body = False

    def flush() -> Iterator[Piece]:
        if claim:
            raw = render([*header, *claim], h)
            yield Piece("claim", "835", raw, claim[0].el(1), h.control_number)
            claim.clear()

    for seg in segments_of(ts):
        if not in_body and seg.id not in _835_BODY:
            header.append(seg)  # ST, BPR, TRN, REF, DTM, N1 loops (1000A, 1000B)
            trace = seg.el(2) if seg.id == "TRN" else trace
            continue
        in_body = True
        if seg.id in _835_BODY:
            yield from flush()
        if seg.id == "CLP":
            claim.append(seg)
        elif seg.id == "PLB":
            plbs.append(seg)
        elif claim and seg.id not in _835_BODY:
            claim.append(seg)
    yield from flush()
    if plbs:
        yield Piece("plb", "835", render([*header, *plbs], h), trace, h.control_number)


def _pieces_277(ts: TransactionSet, kind: str) -> Iterator[Piece]:
    h = ts.header
    header: list[Seg] = []
    level: list[Seg] = []

    def flush() -> Iterator[Piece]:
        if level and level[0].el(3) in _CLAIM_LEVELS:
            trace = next((s.el(2) for s in level if s.id == "TRN"), "")
            account = next((s.el(2) for s in level if s.id == "REF" and s.el(1) == "EJ"), "")
            key = (account or trace) if kind == "277" else trace  # our CLM01 (see claim_status)
            if trace or any(s.id == "STC" for s in level):
                yield Piece("claim", kind, render([*header, *level], h), key, h.control_number)
        level.clear()

    for seg in segments_of(ts):
        if seg.id == "HL":
            yield from flush()
            level.append(seg)
        elif level:
            level.append(seg)
        else:
            header.append(seg)  # ST, BHT
    yield from flush()


def pieces(source: Source) -> Iterator[Piece]:
    """Every claim piece of every 835, 277CA and 277 set of ``source`` (other sets skipped).
    Envelope errors raise as the walker raises them."""
    for item in walk(source):
        if not isinstance(item, TransactionSet):
            continue
        kind = item.header.kind
        if kind == "835":
            yield from _pieces_835(item)
        elif kind in ("277CA", "277"):
            yield from _pieces_277(item, kind)
        else:
            for _ in item:
                pass
