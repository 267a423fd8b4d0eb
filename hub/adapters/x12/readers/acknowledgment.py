"""The 999 (005010X231A1) and TA1 readers.

A 999 answers one functional group (AK1) with one response per transaction set (AK2 loop:
IK3 segment notes with their IK4 element notes and CTX context, then IK5) and the group's
verdict (AK9). :func:`read_999` yields each :class:`SetResponse` as it ends and the
:class:`GroupResponse` last, so a 999 answering 5,000 claim files' sets stays flat.

A TA1 answers one interchange (ISA13) with A (accepted), E (accepted with errors) or
R (rejected) and a note code (TA105, X12 element I18).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from hub.adapters.x12.readers.segments import ReadError, Seg, parse_date

# IK501 / AK901 (X12 element 717 / 715): what each verdict means for the claims it covers.
ACCEPTED = "accepted"
ACCEPTED_WITH_ERRORS = "accepted_with_errors"
REJECTED = "rejected"
PARTIALLY_ACCEPTED = "partially_accepted"
_SET_RESULT = {
    "A": ACCEPTED,
    "E": ACCEPTED_WITH_ERRORS,
    "R": REJECTED,
    "M": REJECTED,
    "W": REJECTED,
    "X": REJECTED,
}
_GROUP_RESULT = {**_SET_RESULT, "P": PARTIALLY_ACCEPTED}
_TA1_RESULT = {"A": ACCEPTED, "E": ACCEPTED_WITH_ERRORS, "R": REJECTED}


@dataclass(frozen=True, slots=True)
class ElementNote:
    """IK4: an element in error (IK401-1 position, IK401-2 component), IK403 its code."""

    position: int | None
    component: int | None
    reference: str | None  # IK402 data element reference number
    code: str  # IK403 (X12 element 621)
    context: tuple[str, ...] = ()  # CTX after the IK4


@dataclass(frozen=True, slots=True)
class SegmentNote:
    """IK3: a segment in error (IK301 id, IK302 position, IK303 loop, IK304 code)."""

    segment_id: str
    position: int | None
    loop: str | None
    code: str
    elements: tuple[ElementNote, ...] = ()
    context: tuple[str, ...] = ()  # CTX after the IK3 (e.g. ``CLM01:<claim>``)


@dataclass(frozen=True, slots=True)
class SetResponse:
    """One AK2 loop: the verdict on one transaction set we sent (ST01, ST02)."""

    set_id: str  # AK201
    control_number: str  # AK202: our ST02
    result_code: str  # IK501
    result: str  # accepted | accepted_with_errors | rejected
    codes: tuple[str, ...]  # IK502-IK506 (X12 element 718)
    segments: tuple[SegmentNote, ...]
    position: int


@dataclass(frozen=True, slots=True)
class GroupResponse:
    """AK1 + AK9: the verdict on the functional group (our GS06)."""

    functional_id: str  # AK101 (HC for an 837)
    group_control_number: str  # AK102: our GS06
    version: str  # AK103
    result_code: str  # AK901
    result: str  # accepted | accepted_with_errors | partially_accepted | rejected
    included: int | None  # AK902
    received: int | None  # AK903
    accepted: int | None  # AK904
    codes: tuple[str, ...]  # AK905-AK909 (X12 element 716)
    sets: int = 0  # AK2 loops read


AckPart = SetResponse | GroupResponse


def _int(seg: Seg, n: int) -> int | None:
    value = seg.el(n)
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise seg.fail(n, f"{seg.id}{n:02d} is not a count", code="x12_number")
    return int(value)


@dataclass(slots=True)
class _OpenSet:
    ak2: Seg
    segments: list[SegmentNote] = field(default_factory=list)
    elements: list[ElementNote] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    element_context: list[str] = field(default_factory=list)
    ik3: Seg | None = None

    def close_segment(self) -> None:
        if self.ik3 is not None:
            self.close_element()
            s = self.ik3
            self.segments.append(
                SegmentNote(
                    s.el(1),
                    _int(s, 2),
                    s.el(3) or None,
                    s.el(4),
                    tuple(self.elements),
                    tuple(self.context),
                )
            )
        self.ik3, self.elements, self.context = None, [], []

    def close_element(self) -> None:
        if self.elements and self.element_context:
            last = self.elements[-1]
            self.elements[-1] = ElementNote(
                last.position,
                last.component,
                last.reference,
                last.code,
                tuple(self.element_context),
            )
        self.element_context = []

    def finish(self, ik5: Seg) -> SetResponse:
        self.close_segment()
        code = ik5.required(1)
        return SetResponse(
            self.ak2.el(1),
            self.ak2.el(2),
            code,
            _SET_RESULT.get(code, REJECTED),
            tuple(v for v in (ik5.el(i) for i in range(2, 7)) if v),
            tuple(self.segments),
            self.ak2.position,
        )


def _element_note(seg: Seg) -> ElementNote:
    pos = seg.comp(1, 1)
    comp = seg.comp(1, 2)
    return ElementNote(
        int(pos) if pos.isdigit() and len(pos) < 4 else None,
        int(comp) if comp.isdigit() and len(comp) < 4 else None,
        seg.el(2) or None,
        seg.el(3),
    )


def read_999(segments: Iterable[Seg]) -> Iterator[AckPart]:
    ak1: Seg | None = None
    current: _OpenSet | None = None
    sets = 0
    for seg in segments:
        if seg.id == "AK1":
            ak1 = seg
        elif seg.id == "AK2":
            current = _OpenSet(seg)
        elif current is not None and seg.id == "IK3":
            current.close_segment()
            current.ik3 = seg
        elif current is not None and seg.id == "IK4":
            current.close_element()
            current.elements.append(_element_note(seg))
        elif current is not None and seg.id == "CTX":
            target = current.element_context if current.elements else current.context
            target.append(seg.el(1))
        elif current is not None and seg.id == "IK5":
            sets += 1
            yield current.finish(seg)
            current = None
        elif seg.id == "AK9":
            if ak1 is None:
                raise seg.fail(None, "AK9 without AK1", code="x12_required")
            code = seg.required(1)
            yield GroupResponse(
                ak1.el(1),
                ak1.required(2),
                ak1.el(3),
                code,
                _GROUP_RESULT.get(code, REJECTED),
                _int(seg, 2),
                _int(seg, 3),
                _int(seg, 4),
                tuple(v for v in (seg.el(i) for i in range(5, 10)) if v),
                sets,
            )
            return
    raise ReadError("the 999 has no AK9 segment", code="x12_required")


@dataclass(frozen=True, slots=True)
class Ta1:
    control_number: str  # TA101: the ISA13 acknowledged
    interchange_date: date | None  # TA102 (YYMMDD)
    interchange_time: str  # TA103
    ack_code: str  # TA104
    result: str  # accepted | accepted_with_errors | rejected
    note_code: str  # TA105 (X12 element I18)
    position: int


def read_ta1(seg: Seg) -> Ta1:
    if seg.id != "TA1":
        raise seg.fail(None, "not a TA1 segment", code="x12_required")
    code = seg.required(4)
    if code not in _TA1_RESULT:
        raise seg.fail(4, "TA104 must be A, E or R", code="x12_code")
    raw_date = seg.el(2)
    when = parse_date(seg, 2, "20" + raw_date) if len(raw_date) == 6 else None
    return Ta1(seg.required(1), when, seg.el(3), code, _TA1_RESULT[code], seg.el(5), seg.position)
