"""The envelope walker: ISA/IEA, GS/GE and ST/SE checked while the segments stream past.

::

    for item in walk(open(path, "rb")):
        if isinstance(item, TransactionSet):
            item.header.kind, item.header.interchange.control_number  # 835, ISA13...
            for segment in item:        # the body: ST and SE excluded, one segment at a time
                ...
        else:                           # InterchangeAck: a TA1 directly inside an ISA
            item.segment

Checks, each with its acknowledgment code (:mod:`hub.adapters.x12.errors`): ISA fields and
widths (TA1), IEA01 group count (TA1 021) and IEA02 = ISA13 (TA1 001), a missing IEA or a file
that ends inside an envelope (TA1 023), segments outside any envelope (TA1 024); GE01 set count
(AK905 5), GE02 = GS06 (AK905 4), a missing GE (AK905 3); SE01 segment count (IK502 4),
SE02 = ST02 (IK502 3), a missing SE (IK502 2), an unsupported ST01 (IK502 1), ST02 not 4-9
digits (IK502 7), a repeated ST02 in a group (IK502 23), segment ids that are not X12 ids
(IK304 1, counted in IK502 5).

Interchange errors always raise: nothing inside a broken interchange can be trusted. Group
and transaction set errors raise too (at the end of the set's segments, or when the walker
moves on) unless ``on_error`` is given: then each is handed to it and the walk goes on, which
is how :func:`hub.adapters.x12.report.check` builds a whole file's report for a 999.
A reader that stops consuming a set early loses nothing: the walker skips the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hub.adapters.x12 import errors as e
from hub.adapters.x12.headers import (
    SUPPORTED_SETS,
    GroupHeader,
    InterchangeHeader,
    TransactionHeader,
    group_header,
    interchange_header,
)
from hub.adapters.x12.tokenizer import Limits, Segment, Source, Tokenizer
from hub.errors import HubError, X12Location

OnError = Callable[[HubError], None]
OnStart = Callable[[InterchangeHeader | GroupHeader], None]
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_ENVELOPE_IDS = frozenset({"ST", "GE", "GS", "IEA", "ISA"})
# bound on segment errors kept per set: a garbage body must not grow a list without end
MAX_SEGMENT_ERRORS = 100
# X12 segment ids seen valid (checked once each; bounded, ids come from the sender)
_VALID_IDS: set[str] = set()


def _valid_id(segment_id: str) -> bool:
    if not _SEGMENT_ID.fullmatch(segment_id):
        return False
    if len(_VALID_IDS) < 2048:
        _VALID_IDS.add(segment_id)
    return True


@dataclass(frozen=True, slots=True)
class InterchangeAck:
    """A TA1 segment carried directly inside an interchange (an inbound interchange ack)."""

    interchange: InterchangeHeader
    segment: Segment


class _Stream:
    """The tokenizer with one segment of push-back."""

    def __init__(self, source: Source, limits: Limits | None) -> None:
        self._segments = iter(Tokenizer(source, limits))
        self._back: Segment | None = None
        self.last_isa: Segment | None = None

    def next(self) -> Segment | None:
        if self._back is not None:
            back, self._back = self._back, None
            return back
        try:
            seg = next(self._segments, None)
        except e.InterchangeError as error:
            raise self.located(error) from None
        if seg is not None and seg.id == "ISA":
            self.last_isa = seg
        return seg

    def located(self, error: e.InterchangeError) -> e.InterchangeError:
        """``error`` with the ISA it belongs to (the TA1 answers that ISA13)."""
        error.isa = error.isa or self.last_isa
        return error

    def push_back(self, seg: Segment) -> None:
        self._back = seg


class TransactionSet:
    """One ST..SE set: iterate it for its body segments (ST and SE excluded).

    After iteration ``segment_count`` is the counted number of segments (ST and SE
    included, as SE01 counts them) and ``errors`` holds the set's errors.
    """

    def __init__(
        self, header: TransactionHeader, stream: _Stream, on_error: OnError | None
    ) -> None:
        self.header = header
        self.errors: list[e.TransactionSetError] = []
        self.segment_count = 1
        self._stream = stream
        self._on_error = on_error
        self._body: Iterator[Segment] | None = None
        self._done = False

    def __iter__(self) -> Iterator[Segment]:
        if self._body is not None:
            raise RuntimeError("a transaction set's segments can be read only once")
        self._body = self._read()
        return self._body

    def _drain(self) -> None:
        if self._body is None:
            self._body = self._read()
        for _ in self._body:
            pass

    def _error(self, message: str, ik502: str, seg: Segment | None = None) -> None:
        where = X12Location(seg.id, self.segment_count) if seg is not None else None
        self.errors.append(
            e.TransactionSetError(
                message,
                ik502=ik502,
                set_id=self.header.set_id,
                control_number=self.header.control_number,
                location=where,
            )
        )

    def _read(self) -> Iterator[Segment]:
        h = self.header
        while True:
            seg = self._stream.next()
            if seg is None:
                raise self._stream.located(
                    e.InterchangeError(
                        "truncated: the file ends inside transaction set "
                        f"{h.set_id} {h.control_number}",
                        ta1_code=e.TA1_PREMATURE_EOF,
                        location=X12Location("ST", 1),
                    )
                )
            if seg.id == "SE":
                self.segment_count += 1
                self._check_trailer(seg)
                break
            if seg.id in _ENVELOPE_IDS:
                self._stream.push_back(seg)
                self._error(
                    f"transaction set {h.set_id} {h.control_number} has no SE trailer "
                    f"({seg.id} at segment {seg.position})",
                    e.IK5_TRAILER_MISSING,
                )
                break
            self.segment_count += 1
            if seg.id not in _VALID_IDS and not _valid_id(seg.id):
                self._segment_error(seg)
            yield seg
        self._done = True
        self._report()

    def _segment_error(self, seg: Segment) -> None:
        if len(self.errors) >= MAX_SEGMENT_ERRORS:
            return
        shown = seg.id[:3] if seg.id[:3].isalnum() else "?"
        self.errors.append(
            e.SegmentError(
                f"segment {self.segment_count} of the set is not an X12 segment (id {shown!r})",
                ik304=e.IK3_UNRECOGNIZED_SEGMENT,
                set_id=self.header.set_id,
                control_number=self.header.control_number,
                location=X12Location(shown, self.segment_count),
            )
        )

    def _check_trailer(self, se: Segment) -> None:
        h = self.header
        count = se.element(1)
        if count != str(self.segment_count):
            self._error(
                f"SE01 says {count or 'nothing'} segments but set {h.control_number} has "
                f"{self.segment_count}",
                e.IK5_COUNT_MISMATCH,
                se,
            )
        if se.element(2) != h.control_number:
            self._error(
                f"SE02 {se.element(2)!r} does not match ST02 {h.control_number!r}",
                e.IK5_CONTROL_NUMBER_MISMATCH,
                se,
            )

    def _report(self) -> None:
        for error in self.errors:
            if self._on_error is None:
                raise error
            self._on_error(error)


def _group_error(message: str, code: str, gs: GroupHeader, seg: Segment | None) -> e.GroupError:
    where = X12Location(seg.id, seg.position) if seg is not None else None
    return e.GroupError(message, ak905=code, group_control_number=gs.control_number, location=where)


class _Walker:
    def __init__(
        self,
        stream: _Stream,
        supported: frozenset[str],
        on_error: OnError | None,
        on_start: OnStart | None,
    ) -> None:
        self.stream = stream
        self.supported = supported
        self.on_error = on_error
        self.on_start = on_start or (lambda header: None)

    def report(self, error: HubError) -> None:
        if self.on_error is None:
            raise error
        self.on_error(error)

    def interchanges(self) -> Iterator[TransactionSet | InterchangeAck]:
        seg = self.stream.next()
        while seg is not None:
            if seg.id != "ISA":
                raise self.stream.located(
                    e.InterchangeError(
                        f"segment {seg.id} at position {seg.position} is outside any interchange "
                        "(after IEA)",
                        ta1_code=e.TA1_INVALID_CONTENT,
                        location=X12Location(seg.id, seg.position),
                    )
                )
            try:
                isa = interchange_header(seg)
                self.on_start(isa)
                yield from self.interchange(isa)
            except e.InterchangeError as error:
                error.isa = error.isa or seg
                raise
            seg = self.stream.next()

    def interchange(self, isa: InterchangeHeader) -> Iterator[TransactionSet | InterchangeAck]:
        groups = acks = 0
        while True:
            seg = self.stream.next()
            if seg is None or seg.id == "ISA":
                raise e.InterchangeError(
                    f"interchange {isa.control_number} has no IEA trailer (the "
                    + ("file ends" if seg is None else f"next ISA starts at segment {seg.position}")
                    + ")",
                    ta1_code=e.TA1_PREMATURE_EOF,
                    location=X12Location("IEA"),
                )
            if seg.id == "IEA":
                self.check_iea(isa, seg, groups, acks)
                return
            if seg.id == "TA1":
                acks += 1
                yield InterchangeAck(isa, seg)
            elif seg.id == "GS":
                groups += 1
                gs = group_header(seg)
                self.on_start(gs)
                yield from self.group(isa, gs)
            else:
                where = "outside a functional group (no GS)" if seg.id == "ST" else "between groups"
                raise e.InterchangeError(
                    f"segment {seg.id} at position {seg.position} is {where}",
                    ta1_code=e.TA1_INVALID_CONTENT,
                    location=X12Location(seg.id, seg.position),
                )

    def check_iea(self, isa: InterchangeHeader, iea: Segment, groups: int, acks: int) -> None:
        where = X12Location("IEA", iea.position)
        if iea.element(2) != isa.control_number:
            raise e.InterchangeError(
                f"IEA02 {iea.element(2)!r} does not match ISA13 {isa.control_number!r}",
                ta1_code=e.TA1_CONTROL_NUMBER_MISMATCH,
                location=X12Location("IEA", iea.position, None, 2),
            )
        counted = {str(groups)} | ({str(acks)} if groups == 0 else set())
        if iea.element(1).lstrip("0") not in {c.lstrip("0") for c in counted}:
            raise e.InterchangeError(
                f"IEA01 says {iea.element(1) or 'nothing'} groups but the interchange has {groups}",
                ta1_code=e.TA1_GROUP_COUNT,
                location=where,
            )

    def group(self, isa: InterchangeHeader, gs: GroupHeader) -> Iterator[TransactionSet]:
        if not (gs.control_number.isdigit() and len(gs.control_number) <= 9):
            self.report(
                _group_error(
                    f"GS06 {gs.control_number!r} is not 1-9 digits",
                    e.AK9_CONTROL_NUMBER_SYNTAX,
                    gs,
                    None,
                )
            )
        sets, seen = 0, set[str]()
        while True:
            seg = self.stream.next()
            if seg is None:
                raise e.InterchangeError(
                    f"truncated: the file ends inside group {gs.control_number}",
                    ta1_code=e.TA1_PREMATURE_EOF,
                    location=X12Location("GE"),
                )
            if seg.id == "ST":
                sets += 1
                ts = self.transaction_set(isa, gs, seg, seen)
                yield ts
                ts._drain()
            elif seg.id == "GE":
                self.check_ge(gs, seg, sets)
                return
            elif seg.id in ("GS", "IEA", "ISA"):
                self.stream.push_back(seg)
                self.report(
                    _group_error(
                        f"group {gs.control_number} has no GE trailer",
                        e.AK9_TRAILER_MISSING,
                        gs,
                        seg,
                    )
                )
                return
            else:
                raise e.InterchangeError(
                    f"segment {seg.id} at position {seg.position} is outside a transaction set",
                    ta1_code=e.TA1_INVALID_CONTENT,
                    location=X12Location(seg.id, seg.position),
                )

    def check_ge(self, gs: GroupHeader, ge: Segment, sets: int) -> None:
        if ge.element(1) != str(sets):
            self.report(
                _group_error(
                    f"GE01 says {ge.element(1) or 'nothing'} transaction sets but group "
                    f"{gs.control_number} has {sets}",
                    e.AK9_COUNT_MISMATCH,
                    gs,
                    ge,
                )
            )
        if ge.element(2) != gs.control_number:
            self.report(
                _group_error(
                    f"GE02 {ge.element(2)!r} does not match GS06 {gs.control_number!r}",
                    e.AK9_CONTROL_NUMBER_MISMATCH,
                    gs,
                    ge,
                )
            )

    def transaction_set(
        self, isa: InterchangeHeader, gs: GroupHeader, st: Segment, seen: set[str]
    ) -> TransactionSet:
        header = TransactionHeader(
            interchange=isa,
            group=gs,
            set_id=st.element(1),
            control_number=st.element(2),
            implementation=st.element(3) or gs.version,
            position=st.position,
            offset=st.offset,
        )
        ts = TransactionSet(header, self.stream, self.on_error)
        number = header.control_number
        if not header.set_id.isdigit() or len(header.set_id) != 3:
            ts._error(
                f"ST01 {header.set_id!r} is not a transaction set id", e.IK5_INVALID_SET_ID, st
            )
        elif header.set_id not in self.supported:
            ts._error(f"transaction set {header.set_id} is not supported", e.IK5_NOT_SUPPORTED, st)
        if not (number.isdigit() and 4 <= len(number) <= 9):
            ts._error(f"ST02 {number!r} is not 4-9 digits", e.IK5_INVALID_CONTROL_NUMBER, st)
        elif number in seen:
            ts._error(
                f"ST02 {number} is used twice in group {gs.control_number}",
                e.IK5_CONTROL_NUMBER_NOT_UNIQUE,
                st,
            )
        seen.add(number)
        if ts.errors and self.on_error is None:
            raise ts.errors[0]
        return ts


def walk(
    source: Source,
    *,
    limits: Limits | None = None,
    supported: frozenset[str] = SUPPORTED_SETS,
    on_error: OnError | None = None,
    on_start: OnStart | None = None,
) -> Iterator[TransactionSet | InterchangeAck]:
    """Walk every interchange of ``source``, yielding its transaction sets (and TA1s).

    ``on_start`` is told of each ISA and GS as the walk enters it (for reports that must list
    an interchange or group even when it holds no set)."""
    return _Walker(_Stream(source, limits), supported, on_error, on_start).interchanges()
