"""The four X12 delimiters, read from the fixed-width ISA segment (X12.5 / 005010 appendix B).

The ISA is the only segment with fixed-width elements: 106 characters including its
terminator. Byte 4 (index 3) is the element separator, ISA11 (index 82) the repetition
separator, ISA16 (index 104) the component separator, and the character right after ISA16
(index 105) the segment terminator. Line breaks after a terminator are not part of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

ISA_LENGTH = 106
# index of each ISA element separator in a well-formed ISA (ISA01..ISA16 have fixed widths)
ISA_SEPARATOR_POSITIONS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
# width of ISA01..ISA16 (X12.5 interchange control header)
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
REPETITION_INDEX = 82
COMPONENT_INDEX = 104
TERMINATOR_INDEX = 105


def _usable(char: str) -> bool:
    """A delimiter must not be a character that data can contain: letters, digits, space."""
    return len(char) == 1 and not char.isalnum() and char != " "


@dataclass(frozen=True, slots=True)
class Delimiters:
    """Element, component, repetition separators and segment terminator (one character each).

    ``repetition`` is ``""`` when the interchange has none (ISA11 = ``U`` before 00501).
    """

    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"

    def clash(self) -> str | None:
        """Name the first problem with this set (``None`` when usable): each delimiter must be
        one non-alphanumeric, non-space character and all of them must differ."""
        named = [("element", self.element), ("component", self.component)]
        if self.repetition:
            named.append(("repetition", self.repetition))
        named.append(("segment", self.segment))
        for name, char in named:
            if not _usable(char):
                return f"{name} delimiter {char!r} is not usable (letter, digit, space or empty)"
        seen: dict[str, str] = {}
        for name, char in named:
            if char in seen:
                return f"{name} delimiter {char!r} is the same as the {seen[char]} delimiter"
            seen[char] = name
        return None

    def all(self) -> str:
        """Every delimiter character, for checking that a value contains none."""
        return self.element + self.component + self.repetition + self.segment

    @classmethod
    def from_isa(cls, isa: str) -> Delimiters:
        """Read the delimiters from an ISA of at least 106 characters (no checks: see
        :func:`hub.adapters.x12.tokenizer` for the checked path)."""
        repetition = isa[REPETITION_INDEX]
        return cls(
            element=isa[3],
            component=isa[COMPONENT_INDEX],
            repetition=repetition if _usable(repetition) else "",
            segment=isa[TERMINATOR_INDEX],
        )
