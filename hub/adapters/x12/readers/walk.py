"""The readers on top of the envelope walker: a file in, each transaction set's typed results.

:func:`segments_of` turns a walked :class:`~hub.adapters.x12.envelope.TransactionSet` into the
readers' :class:`~.segments.Seg` views, numbered within the set (ST = 1) as IK302 counts;
:data:`READERS` names the reader of each transaction kind (``835``, ``999``, ``277CA``...);
:func:`read_all` reads every set (and TA1) of a file, lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hub.adapters.x12.envelope import InterchangeAck, TransactionSet, walk
from hub.adapters.x12.headers import InterchangeHeader, TransactionHeader
from hub.adapters.x12.readers.acknowledgment import Ta1, read_999, read_ta1
from hub.adapters.x12.readers.claim_status import read_277
from hub.adapters.x12.readers.eligibility import read_271
from hub.adapters.x12.readers.remittance import read_835
from hub.adapters.x12.readers.segments import Seg
from hub.adapters.x12.tokenizer import Segment, Source

Reader = Callable[[Iterable[Seg]], Iterator[Any]]

READERS: dict[str, Reader] = {
    "835": read_835,
    "999": read_999,
    "277CA": read_277,
    "277": read_277,
    "271": read_271,
}


def view(seg: Segment, position: int) -> Seg:
    d = seg.delimiters
    return Seg((seg.id, *seg.elements), position, d.component, d.repetition)


def segments_of(ts: TransactionSet) -> Iterator[Seg]:
    """A set as views numbered from ST = 1: the ST (rebuilt from the walker's header: the
    walker hands out the body only), then the body (SE excluded)."""
    h = ts.header
    d = h.interchange.delimiters
    yield Seg(("ST", h.set_id, h.control_number, h.implementation), 1, d.component, d.repetition)
    for position, seg in enumerate(ts, start=2):
        yield view(seg, position)


@dataclass(frozen=True, slots=True)
class SetResults:
    header: TransactionHeader
    kind: str
    results: Iterator[Any]  # lazily read: consume before moving to the next set


@dataclass(frozen=True, slots=True)
class InterchangeAckResult:
    interchange: InterchangeHeader
    ta1: Ta1


def read_sets(
    items: Iterable[TransactionSet | InterchangeAck],
) -> Iterator[SetResults | InterchangeAckResult]:
    for item in items:
        if isinstance(item, InterchangeAck):
            yield InterchangeAckResult(item.interchange, read_ta1(view(item.segment, 1)))
            continue
        kind = item.header.kind
        reader = READERS.get(kind)
        if reader is None:
            for _ in item:  # a set this module does not read (an 837 echoed back...)
                pass
            continue
        yield SetResults(item.header, kind, reader(segments_of(item)))


def read_all(source: Source) -> Iterator[SetResults | InterchangeAckResult]:
    """Every readable set of ``source``; envelope errors raise as the walker raises them."""
    return read_sets(walk(source))
