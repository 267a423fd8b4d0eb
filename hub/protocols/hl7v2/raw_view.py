"""The console's view of an HL7 v2 message: the project's tokenizer cuts segments and fields,
each field labelled ``PID-3`` and named from :mod:`.field_names`; an error's
:class:`hub.errors.Hl7Location` marks its segment occurrence and field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from hub.adapters.hl7v2.tokenizer import parse
from hub.errors import Hl7Location, Location, ParseError
from hub.protocols.hl7v2.field_names import field_name
from hub.services.raw_view import (
    RawLine,
    RawPart,
    RawView,
    hl7_location,
    line_location,
    plain_lines,
    where_of,
)


class Hl7RawRenderer:
    def __init__(self, default_charset: str = "utf-8") -> None:
        self.default_charset = default_charset

    def render(self, raw: bytes, locations: Sequence[Location]) -> RawView:
        try:
            msg = parse(raw, default_charset=self.default_charset)
        except ParseError as exc:
            text = raw.decode("utf-8", errors="replace")
            located = [*locations, *([exc.location] if exc.location else [])]
            return plain_lines(text, located, f"cannot be read as HL7 segments: {exc}")
        targets = [loc for loc in locations if isinstance(loc, Hl7Location)]
        fs = msg.delimiters.field
        seen: Counter[str] = Counter()
        placed: set[int] = set()
        lines = []
        for seg in msg.segments:
            seen[seg.name] += 1
            hits = [
                i
                for i, loc in enumerate(targets)
                if loc.segment == seg.name and loc.sequence == seen[seg.name]
            ]
            placed.update(hits)
            marked = {targets[i].field for i in hits}
            values = seg.raw.split(fs)[1:]
            first = 2 if seg.name == "MSH" else 1  # MSH-1 is the separator itself
            parts = tuple(
                RawPart(
                    value,
                    f"{seg.name}-{n}",
                    field_name(seg.name, n),
                    highlight=n in marked,
                )
                for n, value in enumerate(values, first)
            )
            whole = any(targets[i].field is None for i in hits)
            lines.append(
                RawLine(seg.raw, head=seg.name, parts=parts, separator=fs, highlight=whole)
            )
        structure = (
            ("message type", msg.type),
            ("structure", msg.structure),
            ("version", msg.version),
            ("segments", " ".join(s.name for s in msg.segments)[:400]),
        )
        return RawView(
            tuple(lines),
            "segments",
            structure=structure,
            located=tuple(str(t) for t in targets),
            unplaced=tuple(str(t) for i, t in enumerate(targets) if i not in placed),
        )

    def location_in(self, error_text: str) -> Location | None:
        where = where_of(error_text)
        if where is None:
            return None
        return hl7_location(where) or line_location(where)
