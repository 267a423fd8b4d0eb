"""HL7 v2 escape sequences (v2.5 section 2.7.1 to 2.7.4).

``unescape`` turns the delimiter escapes ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` (and ``\\P\\``, the v2.7
truncation character) and the hexadecimal ``\\Xhh..\\`` escape back into text. Formatting and
character-set escapes (``\\H\\ \\N\\ .br \\Cxxyy\\ \\Mxxyyzz\\ \\Zxx\\``) and anything unknown are
left exactly as sent: they are presentation instructions for the receiving display, and keeping
them verbatim lets a message be re-sent without loss.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delimiters:
    """MSH-1 and MSH-2: the message's own separators (v2.5 section 2.5.4)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str | None = None  # v2.7+: fifth MSH-2 character, usually '#'

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as it is written in a message."""
        return (
            self.component
            + self.repetition
            + self.escape
            + self.subcomponent
            + (self.truncation or "")
        )


DEFAULT_DELIMITERS = Delimiters()


def unescape(text: str, delims: Delimiters, *, charset: str = "utf-8") -> str:
    """Resolve escape sequences in one field, component or subcomponent value."""
    esc = delims.escape
    if not esc or esc not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        start = text.find(esc, i)
        if start < 0:
            out.append(text[i:])
            break
        end = text.find(esc, start + 1)
        if end < 0:  # an unterminated escape is data, not a sequence
            out.append(text[i:])
            break
        out.append(text[i:start])
        out.append(_resolve(text[start + 1 : end], text[start : end + 1], delims, charset))
        i = end + 1
    return "".join(out)


def _resolve(body: str, whole: str, delims: Delimiters, charset: str) -> str:
    if body == "F":
        return delims.field
    if body == "S":
        return delims.component
    if body == "T":
        return delims.subcomponent
    if body == "R":
        return delims.repetition
    if body == "E":
        return delims.escape
    if body == "P" and delims.truncation:
        return delims.truncation
    if len(body) > 1 and body[0] == "X" and len(body) % 2 == 1:
        try:
            # \Xhh..\ are bytes in the message's character set (v2.5 section 2.7.3)
            return bytes.fromhex(body[1:]).decode(charset)
        except (ValueError, LookupError):
            return whole
    return whole


def escape(text: str, delims: Delimiters) -> str:
    """Escape every delimiter in ``text`` so it can be written as one value."""
    esc = delims.escape
    if not any(c in text for c in _specials(delims)):
        return text
    out = text.replace(esc, f"{esc}E{esc}")
    out = out.replace(delims.field, f"{esc}F{esc}")
    out = out.replace(delims.component, f"{esc}S{esc}")
    out = out.replace(delims.subcomponent, f"{esc}T{esc}")
    out = out.replace(delims.repetition, f"{esc}R{esc}")
    if delims.truncation:
        out = out.replace(delims.truncation, f"{esc}P{esc}")
    return out


def _specials(delims: Delimiters) -> str:
    return (
        delims.field
        + delims.component
        + delims.repetition
        + delims.escape
        + delims.subcomponent
        + (delims.truncation or "")
    )
