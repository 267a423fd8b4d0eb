"""Build X12 so that incorrect output cannot be built.

::

    from hub.adapters.x12.builder import InterchangeBuilder, Party

    ib = InterchangeBuilder(
        sender=Party("ZZ", "HUBSUBMITTER"), receiver=Party("ZZ", "CLEARINGHOUSE"),
        control_number=42,          # ISA13, from PmRepository.next_control_number (never reused)
        timestamp=now,              # ISA09/ISA10 and GS04/GS05 (a datetime: no clock in here)
        usage="P", ack_requested=False, delimiters=Delimiters(),
    )
    group = ib.group("HC", "005010X222A1", sender_id="HUBSUBMITTER", receiver_id="CH")
    ts = group.transaction("837")               # ST02 0001, 0002... per group; ST03 = GS08
    ts.segment("BHT", "0019", "00", "B123", "20260101", "1200", "CH")
    billing = ts.hl(None, "20")                 # HL*1**20*1
    subscriber = ts.hl(billing, "22")           # HL*2*1*22*0 (HL04 from whether children follow)
    ts.segment("CLM", "PCN1", Decimal("100"), None, None, ("11", "B", "1"))  # tuple: composite
    ts.lx()                                     # LX*1, LX*2... restarted by each hl() and CLM
    text = ib.render(line_breaks=True)          # or ib.to_bytes(); ib.segments() streams

What the builder owns, so callers cannot get it wrong: ISA fixed widths and padding, ISA11/
ISA16 from the delimiters, GS06 (1, 2... in the interchange unless given), ST02/SE02, SE01,
GE01/GE02, IEA01/IEA02, HL01/HL02/HL04, LX01, and the trimming of trailing empty elements
(X12.6 forbids trailing element separators). It refuses, with :class:`BuildError`: a value
holding a delimiter or a control character, an ISA id over 15 characters, control numbers
out of range, segment ids that are not X12 ids, writing an envelope, HL or LX segment by hand,
an HL parent from another transaction set, a group or transaction set left empty, and any
change after rendering. Element values: ``str``, ``int``, ``Decimal`` (plain notation),
``None`` (empty), a ``tuple`` (a composite: components joined by the component separator) or
a ``list`` (repetitions joined by the repetition separator).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from hub.adapters.x12.delimiters import Delimiters
from hub.adapters.x12.errors import BuildError
from hub.adapters.x12.headers import SUPPORTED_VERSION
from hub.adapters.x12.values import Renderer, Scalar, Value
from hub.errors import X12Location

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_OWNED_IDS = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE", "HL", "LX", "TA1"})
MAX_CONTROL_NUMBER = 999_999_999
_CHECKED_IDS: set[str] = set()  # body segment ids already found valid (ids are code, not data)


@dataclass(frozen=True, slots=True)
class Party:
    """An interchange party: ISA05/ISA07 qualifier and ISA06/ISA08 id (up to 15)."""

    qualifier: str
    id: str


def _control_number(value: int, what: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= MAX_CONTROL_NUMBER
    ):
        raise BuildError(f"{what} must be a whole number from 1 to {MAX_CONTROL_NUMBER}")
    return value


class Hl:
    """A hierarchical level handle (HL01 ``number``): pass it as a child's parent."""

    __slots__ = ("_owner", "declared", "has_children", "number", "with_hl04")

    def __init__(
        self, number: int, owner: TransactionBuilder, declared: bool | None, with_hl04: bool
    ) -> None:
        self.number = number
        self._owner = owner
        self.has_children = False
        self.declared = declared
        self.with_hl04 = with_hl04


class TransactionBuilder:
    """One ST..SE set. Made by :meth:`GroupBuilder.transaction`."""

    def __init__(self, group: GroupBuilder, set_id: str, control_number: str, implementation: str):
        self._group = group
        self.set_id = set_id
        self.control_number = control_number
        self._body: list[list[str] | tuple[Hl, Hl | None, str]] = []
        self._hl_count = 0
        self._lx = 0
        self._header = ["ST", set_id, control_number] + ([implementation] if implementation else [])

    @property
    def _renderer(self) -> Renderer:
        self._group._interchange._check_open()
        return self._group._interchange._renderer

    @property
    def segment_count(self) -> int:
        """SE01 as it stands: ST, the body and SE."""
        return len(self._body) + 2

    def segment(self, segment_id: str, *elements: Value) -> None:
        """Append a body segment (not an envelope, HL or LX segment: see hl() and lx())."""
        renderer = self._renderer
        if segment_id not in _CHECKED_IDS:
            if not _SEGMENT_ID.fullmatch(segment_id):
                raise BuildError(f"{segment_id!r} is not an X12 segment id")
            if segment_id in _OWNED_IDS:
                raise BuildError(f"{segment_id} segments are written by the builder itself")
            if len(_CHECKED_IDS) < 1024:
                _CHECKED_IDS.add(segment_id)
        self._body.append(renderer.segment(segment_id, elements, len(self._body) + 2))
        if segment_id == "CLM":
            self._lx = 0

    def hl(
        self,
        parent: Hl | None,
        level_code: str,
        child: bool | None = None,
        *,
        with_hl04: bool = True,
    ) -> Hl:
        """Append HL: HL01 numbered, HL02 the parent's HL01, HL03 ``level_code``, HL04 "1"
        when an HL names this one as parent, else "0". ``child`` may declare HL04 up front;
        a child added against a ``False`` declaration is refused. ``with_hl04=False`` leaves
        HL04 out, for levels whose guide does not use it (276/277 service levels, 277CA PT);
        such a level cannot have children."""
        self._renderer.scalar(level_code, X12Location("HL", self.segment_count, None, 3))
        if not level_code:
            raise BuildError("HL03 (hierarchical level code) is required")
        if parent is not None:
            if parent._owner is not self:
                raise BuildError("an HL parent must belong to the same transaction set")
            if parent.declared is False or not parent.with_hl04:
                raise BuildError(f"HL {parent.number} was declared without children (HL04 0)")
            parent.has_children = True
        self._hl_count += 1
        handle = Hl(self._hl_count, self, child, with_hl04)
        self._body.append((handle, parent, level_code))
        self._lx = 0
        return handle

    def lx(self, number: int | None = None) -> int:
        """Append LX with the next number (restarted by hl(), CLM and lx_restart()), or with
        ``number`` where the guide makes LX01 an assigned code (835 header number)."""
        self._group._interchange._check_open()
        if number is not None:
            if isinstance(number, bool) or not 0 <= number <= MAX_CONTROL_NUMBER:
                raise BuildError("LX01 must be a whole number of at most nine digits")
            self._lx = number
        else:
            self._lx += 1
        self._body.append(["LX", str(self._lx)])
        return self._lx

    def lx_restart(self) -> None:
        self._lx = 0

    def _lines(self) -> Iterator[list[str]]:
        yield self._header
        for entry in self._body:
            if isinstance(entry, tuple):
                handle, parent, level_code = entry
                if handle.declared is True and not handle.has_children:
                    raise BuildError(f"HL {handle.number} was declared with children but has none")
                parent_number = str(parent.number) if parent is not None else ""
                line = ["HL", str(handle.number), parent_number, level_code]
                if handle.with_hl04:
                    line.append("1" if handle.has_children else "0")
                yield line
            else:
                yield entry
        yield ["SE", str(self.segment_count), self.control_number]


class GroupBuilder:
    """One GS..GE functional group. Made by :meth:`InterchangeBuilder.group`."""

    def __init__(self, interchange: InterchangeBuilder, header: list[str]) -> None:
        self._interchange = interchange
        self._header = header
        self.control_number = header[6]
        self.version = header[8]
        self._sets: list[TransactionBuilder] = []

    def transaction(
        self,
        set_id: str,
        *,
        control_number: int | str | None = None,
        implementation: str | None = None,
    ) -> TransactionBuilder:
        """A new ST: ST02 ``0001``, ``0002``... unless given (an int is zero-padded to four
        digits, a str of 4-9 digits kept as is); ST03 = GS08 unless given (``""`` leaves ST03
        out, as 835 and 999 writers may)."""
        self._interchange._check_open()
        if not re.fullmatch(r"\d{3}", set_id):
            raise BuildError(f"ST01 {set_id!r} is not a transaction set id")
        if isinstance(control_number, str):
            if not re.fullmatch(r"\d{4,9}", control_number):
                raise BuildError("ST02 must be 4 to 9 digits")
            text = control_number
        else:
            number = _control_number(control_number or len(self._sets) + 1, "ST02")
            text = f"{number:04d}"
        if any(t.control_number == text for t in self._sets):
            raise BuildError(f"ST02 {text} is already used in this group")
        guide = self.version if implementation is None else implementation
        ts = TransactionBuilder(self, set_id, text, guide)
        self._sets.append(ts)
        return ts

    def _lines(self) -> Iterator[list[str]]:
        if not self._sets:
            raise BuildError(f"group {self.control_number} has no transaction set")
        yield self._header
        for ts in self._sets:
            if not ts._body:
                raise BuildError(f"transaction set {ts.control_number} has no segments")
            yield from ts._lines()
        yield ["GE", str(len(self._sets)), self.control_number]


def _isa_id(value: str, what: str, width: int) -> str:
    if len(value) > width:
        raise BuildError(f"{what} is over {width} characters")
    if not value.isascii():  # the ISA is 106 bytes wide: a multi-byte character breaks it
        raise BuildError(f"{what} holds a character that is not ASCII")
    return value.ljust(width)


class InterchangeBuilder:
    """One ISA..IEA interchange (see the module docstring)."""

    def __init__(
        self,
        *,
        sender: Party,
        receiver: Party,
        control_number: int,
        timestamp: datetime,
        usage: str = "P",
        ack_requested: bool = False,
        delimiters: Delimiters | None = None,
        authorization: tuple[str, str] = ("00", ""),
        security: tuple[str, str] = ("00", ""),
    ) -> None:
        self.delimiters = delimiters or Delimiters()
        self._renderer = Renderer(self.delimiters)
        self.control_number = f"{_control_number(control_number, 'ISA13'):09d}"
        if usage not in ("P", "T"):
            raise BuildError("ISA15 must be P (production) or T (test)")
        self.timestamp = timestamp
        where = X12Location("ISA", 1)
        texts = [
            self._renderer.scalar(v, where)
            for v in (
                *authorization,
                *security,
                sender.qualifier,
                sender.id,
                receiver.qualifier,
                receiver.id,
            )
        ]
        self._isa = [
            "ISA",
            _isa_id(texts[0], "ISA01", 2),
            _isa_id(texts[1], "ISA02", 10),
            _isa_id(texts[2], "ISA03", 2),
            _isa_id(texts[3], "ISA04", 10),
            _isa_id(texts[4], "ISA05 sender qualifier", 2),
            _isa_id(texts[5], "ISA06 sender id", 15),
            _isa_id(texts[6], "ISA07 receiver qualifier", 2),
            _isa_id(texts[7], "ISA08 receiver id", 15),
            timestamp.strftime("%y%m%d"),
            timestamp.strftime("%H%M"),
            self.delimiters.repetition,
            SUPPORTED_VERSION,
            self.control_number,
            "1" if ack_requested else "0",
            usage,
            self.delimiters.component,
        ]
        if not texts[5].strip() or not texts[7].strip():
            raise BuildError("ISA06 and ISA08 (sender and receiver ids) are required")
        self._groups: list[GroupBuilder] = []
        self._ta1: list[list[str]] = []
        self._sealed = False

    def _check_open(self) -> None:
        if self._sealed:
            raise BuildError("this interchange was rendered: it cannot change any more")

    def group(
        self,
        functional_id: str,
        version: str,
        *,
        sender_id: str,
        receiver_id: str,
        control_number: int | None = None,
        date: str | None = None,
        time: str | None = None,
    ) -> GroupBuilder:
        """A new GS: GS06 = 1, 2... in this interchange unless given; GS04/GS05 from the
        interchange's timestamp unless given (CCYYMMDD, HHMM)."""
        self._check_open()
        number = str(_control_number(control_number or len(self._groups) + 1, "GS06"))
        if any(g.control_number == number for g in self._groups):
            raise BuildError(f"GS06 {number} is already used in this interchange")
        values: list[Scalar] = [
            functional_id,
            sender_id,
            receiver_id,
            date or self.timestamp.strftime("%Y%m%d"),
            time or self.timestamp.strftime("%H%M"),
            number,
            "X",
            version,
        ]
        line = self._renderer.segment("GS", values, 0)
        if len(line) != 9 or not all(line[1:]):
            raise BuildError("GS01..GS08 are all required")
        group = GroupBuilder(self, line)
        self._groups.append(group)
        return group

    def ta1(self, *elements: Value) -> None:
        """A TA1 segment directly inside the interchange (an interchange acknowledgment)."""
        self._check_open()
        self._ta1.append(self._renderer.segment("TA1", elements, 0))

    def lines(self) -> Iterator[list[str]]:
        """Every segment as its id and element texts, counts and control numbers filled."""
        if not self._groups and not self._ta1:
            raise BuildError("an interchange needs a functional group or a TA1")
        self._sealed = True
        yield self._isa
        yield from self._ta1
        for group in self._groups:
            yield from group._lines()
        yield ["IEA", str(len(self._groups)), self.control_number]

    def segments(self, *, line_breaks: bool = False) -> Iterator[str]:
        """Each segment's text with its terminator (and a line break), for streaming writes."""
        d = self.delimiters
        end = d.segment + ("\n" if line_breaks else "")
        for line in self.lines():
            yield d.element.join(line) + end

    def render(self, *, line_breaks: bool = False) -> str:
        return "".join(self.segments(line_breaks=line_breaks))

    def to_bytes(self, *, line_breaks: bool = False) -> bytes:
        return self.render(line_breaks=line_breaks).encode("utf-8")
