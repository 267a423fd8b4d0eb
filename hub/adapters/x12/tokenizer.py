"""A streaming X12 tokenizer: bytes in, :class:`Segment` objects out, lazily.

It reads a binary file object, an iterable of byte chunks or a ``bytes`` value in chunks
(never the whole file at once), takes the delimiters from each ISA it meets (so a file with
several interchanges may change them), accepts a leading UTF-8 BOM and any CR/LF line breaks
after segment terminators, and yields each segment with its ordinal ``position`` in the file
(ISA = 1) and the byte ``offset`` where it starts. Work is linear in the input: each byte is
searched once and the buffer is compacted only when half of it is consumed. A segment longer
than :attr:`Limits.max_segment_bytes` is refused (:class:`SegmentTooLong`) rather than
buffered; a file that ends inside a segment is refused as truncated (TA1 023).

Only the delimiters and the ISA's fixed widths are checked here; envelope rules (counts,
control numbers, versions) live in :mod:`hub.adapters.x12.envelope`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from hub.adapters.x12 import errors as e
from hub.adapters.x12.delimiters import (
    ISA_LENGTH,
    ISA_SEPARATOR_POSITIONS,
    ISA_WIDTHS,
    TERMINATOR_INDEX,
    Delimiters,
)
from hub.errors import X12Location

BOM = b"\xef\xbb\xbf"
_LINE_BREAKS = b"\r\n"
# TA105 for an ISA element whose width is wrong (ISA01..ISA16)
_WIDTH_CODES = (
    e.TA1_AUTHORIZATION_QUALIFIER,
    e.TA1_AUTHORIZATION_VALUE,
    e.TA1_SECURITY_QUALIFIER,
    e.TA1_SECURITY_VALUE,
    e.TA1_SENDER_QUALIFIER,
    e.TA1_SENDER_ID,
    e.TA1_RECEIVER_QUALIFIER,
    e.TA1_RECEIVER_ID,
    e.TA1_DATE,
    e.TA1_TIME,
    e.TA1_STANDARDS_ID,
    e.TA1_VERSION_ID,
    e.TA1_CONTROL_NUMBER,
    e.TA1_ACK_REQUESTED,
    e.TA1_TEST_INDICATOR,
    e.TA1_COMPONENT_SEPARATOR,
)
_CLASH_CODES = {
    "element": e.TA1_ELEMENT_SEPARATOR,
    "component": e.TA1_COMPONENT_SEPARATOR,
    "repetition": e.TA1_STANDARDS_ID,
    "segment": e.TA1_SEGMENT_TERMINATOR,
}

Source = BinaryIO | Iterable[bytes] | bytes


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on sender-controlled sizes."""

    max_segment_bytes: int = 64 * 1024
    chunk_size: int = 64 * 1024


class Segment(NamedTuple):
    """One segment. ``elements[0]`` is element 01 (``ISA01``, ``CLM01``); values are kept
    exactly as sent (ISA padding included) so that rendering gives the same bytes back.
    (A named tuple: immutable, and the cheapest object Python makes per segment.)"""

    id: str
    elements: tuple[str, ...]
    position: int
    offset: int
    delimiters: Delimiters

    def element(self, n: int) -> str:
        """Element ``n`` (1-based, ``CLM05`` is ``element(5)``); ``""`` when absent."""
        return self.elements[n - 1] if 0 < n <= len(self.elements) else ""

    def components(self, n: int) -> tuple[str, ...]:
        """Element ``n`` split into its components (``HC:99213`` -> ``("HC", "99213")``)."""
        return tuple(self.element(n).split(self.delimiters.component))

    def component(self, n: int, c: int) -> str:
        """Component ``c`` (1-based) of element ``n``; ``""`` when absent."""
        parts = self.components(n)
        return parts[c - 1] if 0 < c <= len(parts) else ""

    def repetitions(self, n: int) -> tuple[str, ...]:
        """Element ``n`` split into its repetitions (5010 ISA11)."""
        value = self.element(n)
        if not self.delimiters.repetition or self.id == "ISA":
            return (value,)
        return tuple(value.split(self.delimiters.repetition))

    def render(self) -> str:
        """The segment as text, without its terminator."""
        return self.delimiters.element.join((self.id, *self.elements))

    def location(self, element: int | None = None, component: int | None = None) -> X12Location:
        """This segment (and optionally one element) as an error location, positioned in the
        file; the envelope re-positions it inside its transaction set."""
        return X12Location(self.id, self.position, None, element, component)


def _chunks(source: Source, size: int) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])
        return
    read = getattr(source, "read", None)
    if read is not None:
        while chunk := read(size):
            yield chunk
        return
    for chunk in source:
        if chunk:
            yield bytes(chunk)


def _describe_start(head: bytes) -> e.MissingEnvelope:
    """Why a file that does not start with ISA is not an interchange."""
    text = head.lstrip(b"\r\n\t ")
    if not text:
        return e.MissingEnvelope("the file is empty", ta1_code=e.TA1_PREMATURE_EOF)
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in text[:256])
    if printable < len(text[:256]) * 0.9:
        return e.MissingEnvelope(
            "not X12: the file starts with binary data, not an ISA segment",
            ta1_code=e.TA1_CONTROL_STRUCTURE,
        )
    for segment_id, what in ((b"ST", "a transaction set (ST)"), (b"GS", "a group (GS)")):
        if text.startswith(segment_id) and len(text) > 2 and not chr(text[2]).isalnum():
            return e.MissingEnvelope(
                f"{what} without its interchange envelope: the file must start with ISA",
                ta1_code=e.TA1_CONTROL_STRUCTURE,
                location=X12Location(segment_id.decode(), 1),
            )
    return e.MissingEnvelope(
        "not X12: the file does not start with an ISA segment", ta1_code=e.TA1_CONTROL_STRUCTURE
    )


def _isa_delimiters(isa: str, position: int) -> Delimiters:
    """Check the ISA's fixed widths and delimiters; return the delimiters."""
    where = X12Location("ISA", position)
    sep = isa[3]
    if sep.isalnum() or sep == " ":
        raise e.InterchangeError(
            f"ISA element separator {sep!r} is a letter, digit or space",
            ta1_code=e.TA1_ELEMENT_SEPARATOR,
            location=where,
        )
    start = 4
    for index, width in enumerate(ISA_WIDTHS[:-1]):
        found = isa.find(sep, start)
        if found - start != width:
            actual = "over 100" if found < 0 else str(found - start)
            raise e.InterchangeError(
                f"ISA is not 106 characters: ISA{index + 1:02d} is {actual} characters wide, "
                f"not {width}",
                ta1_code=_WIDTH_CODES[index],
                location=X12Location("ISA", position, None, index + 1),
            )
        start = found + 1
    # ISA16 is one character; the next one is the segment terminator
    if isa.find(sep, ISA_SEPARATOR_POSITIONS[-1] + 1, TERMINATOR_INDEX + 1) >= 0:
        raise e.InterchangeError(
            "ISA is not 106 characters: ISA16 is empty",
            ta1_code=e.TA1_COMPONENT_SEPARATOR,
            location=X12Location("ISA", position, None, 16),
        )
    delimiters = Delimiters.from_isa(isa)
    problem = delimiters.clash()
    if problem is not None:
        name = problem.split(" ", 1)[0]
        raise e.InterchangeError(
            f"delimiter clash: {problem}", ta1_code=_CLASH_CODES[name], location=where
        )
    return delimiters


class Tokenizer:
    """Iterate to get segments: ``for segment in Tokenizer(open(path, "rb")): ...``.

    ``delimiters`` holds the delimiters of the interchange being read (after the first ISA).
    """

    def __init__(self, source: Source, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._chunks = _chunks(source, self.limits.chunk_size)
        self._buf = bytearray()
        self._start = 0  # index in _buf of the next unread byte
        self._base = 0  # file offset of _buf[0]
        self._eof = False
        self._position = 0
        self.delimiters: Delimiters | None = None

    def __iter__(self) -> Iterator[Segment]:
        return self._segments()

    def _fill(self) -> bool:
        """Read one more chunk; False at end of input."""
        if self._eof:
            return False
        chunk = next(self._chunks, None)
        if chunk is None:
            self._eof = True
            return False
        if self._start > len(self._buf) // 2:
            del self._buf[: self._start]
            self._base += self._start
            self._start = 0
        self._buf += chunk
        return True

    def _available(self, n: int) -> bool:
        while len(self._buf) - self._start < n:
            if not self._fill():
                return False
        return True

    def _skip_line_breaks(self) -> None:
        while True:
            buf, i = self._buf, self._start
            while i < len(buf) and buf[i] in _LINE_BREAKS:
                i += 1
            self._start = i
            if i < len(buf) or not self._fill():
                return

    def _segments(self) -> Iterator[Segment]:
        self._available(len(BOM))
        if self._buf.startswith(BOM):
            self._start = len(BOM)
        self._skip_line_breaks()
        self._available(ISA_LENGTH)
        if not self._at_isa():
            self._available(4096)  # the same head whatever the chunk size
            head = bytes(self._buf[self._start : self._start + 4096])
            if head.startswith(b"ISA") and len(head) > 3:
                raise e.InterchangeError(
                    f"ISA element separator {chr(head[3])!r} is a letter, digit or space",
                    ta1_code=e.TA1_ELEMENT_SEPARATOR,
                    location=X12Location("ISA", 1),
                )
            raise _describe_start(head)
        while True:
            self._skip_line_breaks()
            if self._start >= len(self._buf) and self._eof:
                return
            if self._at_isa():
                yield self._read_isa()
            elif not (yield from self._read_batch()):
                yield self._read_segment()

    def _at_isa(self) -> bool:
        self._available(4)
        head = self._buf[self._start : self._start + 4]
        return head[:3] == b"ISA" and len(head) == 4 and not chr(head[3]).isalnum()

    def _read_isa(self) -> Segment:
        self._position += 1
        offset = self._base + self._start
        if not self._available(ISA_LENGTH):
            have = len(self._buf) - self._start
            raise e.InterchangeError(
                f"the file ends inside the ISA segment ({have} of {ISA_LENGTH} characters)",
                ta1_code=e.TA1_PREMATURE_EOF,
                location=X12Location("ISA", self._position),
            )
        raw = bytes(self._buf[self._start : self._start + ISA_LENGTH])
        isa = raw.decode("latin-1")
        if not raw.isascii():
            raise e.InterchangeError(
                "the ISA segment holds non-ASCII bytes",
                ta1_code=e.TA1_CONTROL_STRUCTURE,
                location=X12Location("ISA", self._position),
            )
        delimiters = _isa_delimiters(isa, self._position)
        self.delimiters = delimiters
        self._start += ISA_LENGTH
        elements = tuple(isa[4:TERMINATOR_INDEX].split(delimiters.element))
        return Segment("ISA", elements, self._position, offset, delimiters)

    def _read_batch(self) -> Generator[Segment, None, bool]:
        """Every complete segment already in the buffer, split at once (the fast path); stops
        before an ISA (which may change the delimiters). Returns False when the buffer holds
        no complete segment (then :meth:`_read_segment` reads more, or reports the end)."""
        assert self.delimiters is not None
        d = self.delimiters
        terminator = d.segment.encode()
        start = self._start
        last = self._buf.find(terminator, start)
        if last < 0:
            return False
        last = self._buf.rfind(terminator, start)
        region = bytes(self._buf[start:last])
        limit, element, base = self.limits.max_segment_bytes, d.element, self._base
        at = start  # buffer index of the current piece
        position = self._position
        try:
            for raw in region.split(terminator):
                here, at = at, at + len(raw) + 1
                piece = raw
                if piece[:1] in (b"\r", b"\n"):
                    piece = raw.lstrip(b"\r\n")
                    here += len(raw) - len(piece)
                if piece[:3] == b"ISA" and len(piece) > 3 and not chr(piece[3]).isalnum():
                    at = here  # the next interchange: read by _read_isa
                    return True
                position += 1
                if len(piece) > limit:
                    self._start, self._position = here, position
                    raise self._too_long(limit)
                try:
                    text = piece.decode("utf-8")
                except UnicodeDecodeError:
                    raise e.InterchangeError(
                        f"segment {position} (byte {base + here}) is not valid UTF-8 text",
                        ta1_code=e.TA1_INVALID_CONTENT,
                        location=X12Location(self._peek_id(piece), position),
                    ) from None
                parts = text.split(element)
                yield Segment(parts[0], tuple(parts[1:]), position, base + here, d)
        finally:  # where the next read starts (the batch may stop early: ISA, error, close)
            self._start, self._position = at, position
        return True

    def _read_segment(self) -> Segment:
        assert self.delimiters is not None  # the first segment is always an ISA
        terminator = self.delimiters.segment.encode()
        limit = self.limits.max_segment_bytes
        self._position += 1
        scanned = 0  # bytes of this segment already searched (the buffer may move on _fill)
        while (end := self._buf.find(terminator, self._start + scanned)) < 0:
            scanned = len(self._buf) - self._start
            if scanned > limit:
                raise self._too_long(limit)
            if not self._fill():
                raise e.InterchangeError(
                    f"truncated: the file ends inside segment {self._position} (byte "
                    f"{self._base + self._start}) without a segment terminator",
                    ta1_code=e.TA1_PREMATURE_EOF,
                    location=X12Location(self._peek_id(), self._position),
                )
        if end - self._start > limit:
            raise self._too_long(limit)
        offset = self._base + self._start
        raw = bytes(self._buf[self._start : end])
        self._start = end + len(terminator)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise e.InterchangeError(
                f"segment {self._position} (byte {offset}) is not valid UTF-8 text",
                ta1_code=e.TA1_INVALID_CONTENT,
                location=X12Location(self._peek_id(raw), self._position),
            ) from None
        parts = text.split(self.delimiters.element)
        return Segment(parts[0], tuple(parts[1:]), self._position, offset, self.delimiters)

    def _peek_id(self, raw: bytes | None = None) -> str:
        data = raw if raw is not None else bytes(self._buf[self._start : self._start + 4])
        sep = self.delimiters.element.encode() if self.delimiters else b"*"
        head = data.split(sep, 1)[0][:3]
        return head.decode("ascii", "replace") if head.isalnum() else "?"

    def _too_long(self, limit: int) -> e.SegmentTooLong:
        return e.SegmentTooLong(
            f"segment {self._position} (byte {self._base + self._start}) is longer than "
            f"{limit} bytes without a segment terminator",
            ta1_code=e.TA1_SEGMENT_TERMINATOR,
            location=X12Location(self._peek_id(), self._position),
        )


def tokenize(source: Source, limits: Limits | None = None) -> Iterator[Segment]:
    """The segments of ``source``, lazily (see :class:`Tokenizer`)."""
    return iter(Tokenizer(source, limits))
