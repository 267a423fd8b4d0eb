"""The view of one segment the readers work on: its elements, its place, and typed getters.

The readers are independent of how segments were cut out of the bytes: they take any
iterable of :class:`Seg` (the X12 core's tokenizer feeds them, see :func:`from_elements`).
Getters are 1-based like the implementation guides (``seg.el(2)`` is ``CLP02``) and turn a
malformed value into a :class:`ReadError` that names the element (``CLP04 (segment 17)``),
never a bare ``ValueError``; values are never copied into the error text (they may be PHI).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation

from hub.errors import ValidationError, X12Location

# X12.6 numeric (R) values: optional sign, digits, one decimal point. Bounded so that a
# sender-controlled value never costs more than a constant to convert.
_MAX_NUMBER = 18


class ReadError(ValidationError):
    """A value a reader needs is missing or malformed (X12 999 IK4 material)."""

    code = "x12_value"


class Seg:
    """One segment: ``elements[0]`` is its id; ``position`` counts from ST (= 1), as IK302.

    A plain slotted class, not a frozen dataclass: a 30,000-claim 835 makes half a million of
    these, and a frozen dataclass's ``__init__`` costs several times more. Treat it as
    immutable."""

    __slots__ = ("component", "elements", "id", "loop", "position", "repetition")

    def __init__(
        self,
        elements: tuple[str, ...],
        position: int = 0,
        component: str = ":",
        repetition: str = "^",
        loop: str | None = None,
    ) -> None:
        self.elements = elements
        self.id = elements[0] if elements else ""
        self.position = position
        self.component = component
        self.repetition = repetition
        self.loop = loop

    def __repr__(self) -> str:
        return f"Seg({self.id}, position={self.position})"

    def el(self, n: int) -> str:
        """Element ``n`` (1-based) as text; ``""`` when absent."""
        if n <= 0:
            return ""
        try:
            return self.elements[n]
        except IndexError:
            return ""

    def comps(self, n: int) -> tuple[str, ...]:
        """The components of element ``n`` (a composite such as ``SVC01`` or ``STC01``)."""
        value = self.el(n)
        return tuple(value.split(self.component)) if value else ()

    def comp(self, n: int, k: int) -> str:
        parts = self.comps(n)
        return parts[k - 1] if 0 < k <= len(parts) else ""

    def reps(self, n: int) -> tuple[str, ...]:
        """The repetitions of element ``n`` (``EB03`` service types)."""
        value = self.el(n)
        if not value:
            return ()
        return tuple(value.split(self.repetition)) if self.repetition else (value,)

    def at(self, n: int | None = None, component: int | None = None) -> X12Location:
        return X12Location(self.id, self.position or None, self.loop, n, component)

    def fail(self, n: int | None, what: str, *, code: str = "x12_value") -> ReadError:
        return ReadError(what, code=code, location=self.at(n))

    def required(self, n: int) -> str:
        value = self.el(n)
        if not value:
            raise self.fail(n, f"{self.id}{n:02d} is required", code="x12_required")
        return value

    def money(self, n: int) -> Decimal:
        """A required amount (X12 type R): Decimal, never float."""
        return _number(self, n, self.required(n))

    def money_or_none(self, n: int) -> Decimal | None:
        value = self.el(n)
        return None if not value else _number(self, n, value)

    def money_or_zero(self, n: int) -> Decimal:
        value = self.el(n)
        return Decimal(0) if not value else _number(self, n, value)

    def date_or_none(self, n: int) -> date | None:
        """A CCYYMMDD date (X12 type DT); a malformed one is an error naming the element."""
        return parse_date(self, n, self.el(n))


def _number(seg: Seg, n: int, value: str) -> Decimal:
    if len(value) > _MAX_NUMBER:
        raise seg.fail(n, f"{seg.id}{n:02d} is too long for an amount", code="x12_number")
    body = value[1:] if value[:1] in "+-" else value
    if not body or not body.replace(".", "", 1).isdigit():
        raise seg.fail(n, f"{seg.id}{n:02d} is not a number", code="x12_number")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - excluded by the check above
        raise seg.fail(n, f"{seg.id}{n:02d} is not a number", code="x12_number") from exc


def parse_date(seg: Seg, n: int, value: str) -> date | None:
    if not value:
        return None
    if len(value) != 8 or not value.isdigit():
        raise seg.fail(n, f"{seg.id}{n:02d} is not a CCYYMMDD date", code="x12_date")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError as exc:
        raise seg.fail(n, f"{seg.id}{n:02d} is not a valid date", code="x12_date") from exc


def from_elements(
    segments: Iterable[Sequence[str]], *, component: str = ":", repetition: str = "^"
) -> Iterator[Seg]:
    """Number plain element lists from 1 (the ST segment) into :class:`Seg` views."""
    for position, elements in enumerate(segments, start=1):
        yield Seg(tuple(elements), position, component, repetition)


class Lookahead:
    """An iterator of segments with one segment of look-ahead (readers are LL(1) over loops)."""

    def __init__(self, segments: Iterable[Seg]) -> None:
        self._it = iter(segments)
        self._next: Seg | None = next(self._it, None)

    def peek(self) -> Seg | None:
        return self._next

    def take(self) -> Seg:
        found = self._next
        assert found is not None
        self._next = next(self._it, None)
        return found

    def take_while(self, ids: frozenset[str]) -> Iterator[Seg]:
        while self._next is not None and self._next.id in ids:
            yield self.take()
