"""Builder values to element text: what may be written in an X12 element, and how.

``str`` as given (no delimiter, no control character), ``int`` in digits, ``Decimal`` in plain
notation without trailing zeros (X12 R type), ``None`` empty, a ``tuple`` a composite (joined
by the component separator, trailing empty components dropped), a ``list`` repetitions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from hub.adapters.x12.delimiters import Delimiters
from hub.adapters.x12.errors import BuildError
from hub.errors import X12Location

Scalar = str | int | Decimal | None
Value = Scalar | tuple[Scalar, ...] | list["Scalar | tuple[Scalar, ...]"]

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _amount(value: Decimal) -> str:
    """Plain notation without trailing zeros (X12 R type): 1175.40 -> 1175.4, 100.00 -> 100."""
    if not value.is_finite():
        raise BuildError("an amount must be finite")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class Renderer:
    """Turns values into element text, refusing what would break the syntax.

    Strings are checked once per segment (all of them concatenated: a delimiter or control
    character anywhere is an error wherever it sits); only a failing segment is searched again
    to name the element. ints and Decimals cannot hold a delimiter."""

    def __init__(self, delimiters: Delimiters) -> None:
        problem = delimiters.clash()
        if problem is not None:
            raise BuildError(f"unusable delimiters: {problem}")
        if not delimiters.repetition:
            raise BuildError("005010 needs a repetition separator (ISA11)")
        self.d = delimiters
        self._forbidden = re.compile(
            "[" + re.escape(delimiters.all()) + "]|" + _CONTROL_CHARS.pattern
        )

    def _text(self, value: Scalar, checked: list[str]) -> str:
        kind = type(value)
        if kind is str:
            checked.append(value)  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
        if value is None:
            return ""
        if kind is int:
            return str(value)
        if kind is Decimal:
            return _amount(value)  # type: ignore[arg-type]
        if isinstance(value, bool):
            raise BuildError("a boolean is not an X12 value")
        text = str(value)  # a str or int subclass (an enum value)
        checked.append(text)
        return text

    def _composite(self, parts: tuple[Scalar, ...], checked: list[str]) -> str:
        texts = [self._text(p, checked) for p in parts]
        while texts and not texts[-1]:
            texts.pop()
        return self.d.component.join(texts)

    def _element(self, value: Value, checked: list[str]) -> str:
        if isinstance(value, list):
            reps = [
                self._composite(v, checked) if isinstance(v, tuple) else self._text(v, checked)
                for v in value
            ]
            return self.d.repetition.join(reps)
        if isinstance(value, tuple):
            return self._composite(value, checked)
        return self._text(value, checked)

    def scalar(self, value: Scalar, where: X12Location) -> str:
        """One value, checked on its own."""
        checked: list[str] = []
        try:
            text = self._text(value, checked)
        except BuildError as error:
            error.location = where
            raise
        if checked and self._forbidden.search(checked[0]):
            raise BuildError("the value holds a delimiter or a control character", location=where)
        return text

    def segment(self, segment_id: str, values: Sequence[Value], position: int) -> list[str]:
        checked: list[str] = []
        texts: list[str] = []
        for n, value in enumerate(values, start=1):
            kind = type(value)
            if kind is str:  # the common cases, inline (bench_837p: a third of the build)
                texts.append(value)  # type: ignore[arg-type]
                checked.append(value)  # type: ignore[arg-type]
                continue
            if value is None:
                texts.append("")
                continue
            try:
                if kind is Decimal:
                    texts.append(_amount(value))  # type: ignore[arg-type]
                    continue
                texts.append(self._element(value, checked))
            except BuildError as error:
                error.location = X12Location(segment_id, position, None, n)
                raise
        if checked and self._forbidden.search("".join(checked)):
            for n, value in enumerate(values, start=1):
                mine: list[str] = []
                self._element(value, mine)
                if self._forbidden.search("".join(mine)):
                    raise BuildError(
                        "the value holds a delimiter or a control character",
                        location=X12Location(segment_id, position, None, n),
                    )
        while texts and not texts[-1]:
            texts.pop()
        return [segment_id, *texts]
