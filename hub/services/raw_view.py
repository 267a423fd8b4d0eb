"""Raw content for people: segments one per line, fields named, an error's place highlighted.

A protocol plug-in may declare a :class:`RawRenderer` (``ProtocolPlugin.raw_renderer``); the
console asks :class:`RawRenderers` for the one of a message's protocol. Without one, the bytes
are recognised by their shape, never by protocol name (the core names no protocol):

- an X12 interchange (starts with ``ISA``): one segment per line, split on the segment
  terminator the ISA itself declares (the character after ISA16), elements numbered ``CLM05``;
- JSON or XML (FHIR resources): pretty-printed, the line naming an error's last path step marked;
- anything else: its lines as they are.

Rendering is linear in the input and never fails: a message that cannot be read as segments is
shown as text with the reason (an unparseable message is exactly the one an analyst opens).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from hub.errors import FhirLocation, Hl7Location, LineLocation, Location, X12Location

# Past this many bytes a message is shown as plain text: pretty-printing megabytes of JSON in a
# page helps nobody and costs the server.
MAX_RENDERED_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawPart:
    """One field (HL7) or element (X12) of a segment, as sent."""

    text: str
    label: str = ""  # "PID-3", "CLM05"
    name: str = ""  # "Patient Identifier List"
    highlight: bool = False


@dataclass(frozen=True, slots=True)
class RawLine:
    """One segment (with its parts) or one line of text (``parts`` empty)."""

    text: str
    head: str = ""  # the segment id, shown first
    parts: tuple[RawPart, ...] = ()
    separator: str = ""  # shown between head and parts, and between parts
    note: str = ""  # e.g. "loop 2300"
    highlight: bool = False


@dataclass(frozen=True, slots=True)
class RawView:
    lines: tuple[RawLine, ...]
    kind: str = "text"  # "segments" | "pretty" | "text"
    structure: tuple[tuple[str, str], ...] = ()  # (label, value): type, structure, version...
    note: str = ""  # why the content is shown as plain text, if it is
    located: tuple[str, ...] = ()  # the locations highlighted, as analysts write them
    unplaced: tuple[str, ...] = ()  # locations named by errors that no line matched

    @property
    def highlighted(self) -> int:
        return sum(
            1 for line in self.lines if line.highlight or any(p.highlight for p in line.parts)
        )


class RawRenderer(Protocol):
    """A protocol's view of its raw bytes."""

    def render(self, raw: bytes, locations: Sequence[Location]) -> RawView: ...

    def location_in(self, error_text: str) -> Location | None:
        """The location an error text names (``[code] message at PID-3``), if any."""
        ...


# ---- locations named in error texts ----------------------------------------------------------

_AT = re.compile(r" at (?P<where>[^\n]{1,200})$")
_HL7 = re.compile(
    r"^(?P<seg>[A-Z][A-Z0-9]{2})(?:\[(?P<seq>\d{1,4})\])?"
    r"(?:-(?P<f>\d{1,4})(?:\[(?P<rep>\d{1,4})\])?(?:\.(?P<c>\d{1,4})(?:\.(?P<s>\d{1,4}))?)?)?$"
)
_X12 = re.compile(
    r"^(?P<seg>[A-Z][A-Z0-9]{1,2})(?P<el>\d{2})?(?:-(?P<c>\d{1,3}))?"
    r"(?: \((?:loop (?P<loop>[0-9A-Z]{1,6}))?(?:, )?(?:segment (?P<pos>\d{1,9}))?\))?$"
)
_LINE = re.compile(r"^line (?P<n>\d{1,9})$")
_FHIR = re.compile(r"^[A-Z][A-Za-z]{1,63}(?:\.[A-Za-z_][A-Za-z0-9_]{0,63}(?:\[\d{1,6}\])?){0,30}$")


def where_of(error_text: str) -> str | None:
    """The ``at ...`` tail of a stored error text (``str(HubError)``), if any."""
    found = _AT.search(error_text[:2000])
    return found.group("where") if found else None


def hl7_location(where: str) -> Hl7Location | None:
    m = _HL7.match(where)
    if m is None:
        return None
    num = {k: int(v) for k, v in m.groupdict().items() if v is not None and k != "seg"}
    return Hl7Location(
        m["seg"],
        sequence=num.get("seq", 1),
        field=num.get("f"),
        repetition=num.get("rep"),
        component=num.get("c"),
        subcomponent=num.get("s"),
    )


def x12_location(where: str) -> X12Location | None:
    m = _X12.match(where)
    if m is None:
        return None
    return X12Location(
        m["seg"],
        segment_position=int(m["pos"]) if m["pos"] else None,
        loop_id=m["loop"],
        element_position=int(m["el"]) if m["el"] else None,
        component=int(m["c"]) if m["c"] else None,
    )


def line_location(where: str) -> LineLocation | None:
    m = _LINE.match(where)
    return LineLocation(int(m["n"])) if m else None


# ---- generic renderers --------------------------------------------------------------------


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def plain_lines(text: str, locations: Sequence[Location], note: str = "") -> RawView:
    marked = {loc.line for loc in locations if isinstance(loc, LineLocation)}
    rows = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    lines = tuple(RawLine(r, highlight=i in marked) for i, r in enumerate(rows, 1))
    return RawView(lines, "text", note=note, located=tuple(str(loc) for loc in locations))


class X12Segments:
    """X12: delimiters from the ISA (element separator: 4th byte; component: ISA16; segment
    terminator: the character after ISA16, with a following CR/LF ignored)."""

    def render(self, raw: bytes, locations: Sequence[Location]) -> RawView:
        text = _decode(raw).lstrip("\ufeff \r\n\t")
        if len(text) < 106 or not text.startswith("ISA"):
            return plain_lines(text, locations, "not an X12 interchange (no ISA header)")
        element, component, terminator = text[3], text[104], text[105]
        if terminator.isalnum() or terminator in (element, component):
            return plain_lines(text, locations, "the ISA names no usable segment terminator")
        targets = [loc for loc in locations if isinstance(loc, X12Location)]
        lines: list[RawLine] = []
        position = 0  # within the current transaction set (ST = 1), as IK3-2 counts
        loop = ""
        placed: set[int] = set()
        for chunk in text.split(terminator):
            seg = chunk.strip("\r\n")
            if not seg:
                continue
            elements = seg.split(element)
            seg_id = elements[0]
            position = 1 if seg_id == "ST" else position + 1 if position else 0
            if seg_id == "HL" and len(elements) > 3:
                loop = {"20": "2000A", "22": "2000B", "23": "2000C"}.get(elements[3], loop)
            hit = [
                i
                for i, loc in enumerate(targets)
                if loc.segment_id == seg_id
                and (loc.segment_position is None or loc.segment_position == position)
            ]
            placed.update(hit)
            marked = {targets[i].element_position for i in hit}
            parts = tuple(
                RawPart(value, f"{seg_id}{n:02d}", highlight=n in marked)
                for n, value in enumerate(elements[1:], 1)
            )
            lines.append(
                RawLine(
                    seg,
                    head=seg_id,
                    parts=parts,
                    separator=element,
                    note=f"HL loop {loop}" if seg_id == "HL" and loop else "",
                    highlight=bool(hit),
                )
            )
        structure = (("element separator", element), ("segment terminator", repr(terminator)))
        return RawView(
            tuple(lines),
            "segments",
            structure=structure,
            located=tuple(str(loc) for loc in targets),
            unplaced=tuple(str(t) for i, t in enumerate(targets) if i not in placed),
        )

    def location_in(self, error_text: str) -> Location | None:
        where = where_of(error_text)
        return (x12_location(where) or line_location(where)) if where else None


class PrettyDocument:
    """JSON or XML documents (FHIR resources): pretty-printed; an error's FHIRPath expression
    marks the lines naming its last element."""

    def render(self, raw: bytes, locations: Sequence[Location]) -> RawView:
        text = _decode(raw).lstrip("\ufeff \r\n\t")
        try:
            if text.startswith(("{", "[")):
                pretty, kind = json.dumps(json.loads(text), indent=2, ensure_ascii=False), "JSON"
            elif text.startswith("<"):
                parsed = minidom.parseString(text.encode("utf-8"))
                pretty, kind = parsed.toprettyxml(indent="  "), "XML"
                pretty = "\n".join(r for r in pretty.split("\n") if r.strip())
            else:
                return plain_lines(text, locations)
        except (ValueError, ExpatError) as exc:
            return plain_lines(text, locations, f"not well-formed: {str(exc)[:200]}")
        steps = [
            re.sub(r"\[\d+\]$", "", loc.expression.rsplit(".", 1)[-1])
            for loc in locations
            if isinstance(loc, FhirLocation)
        ]
        needles = [f'"{s}"' if kind == "JSON" else f"<{s}" for s in steps if s]
        lines = tuple(
            RawLine(r, highlight=any(n in r for n in needles)) for r in pretty.split("\n")
        )
        return RawView(
            lines,
            "pretty",
            structure=(("format", kind),),
            located=tuple(str(loc) for loc in locations),
        )

    def location_in(self, error_text: str) -> Location | None:
        where = where_of(error_text)
        if where is None:
            return None
        if _FHIR.match(where):
            return FhirLocation(where)
        return line_location(where)


class PlainText:
    def render(self, raw: bytes, locations: Sequence[Location]) -> RawView:
        return plain_lines(_decode(raw), locations)

    def location_in(self, error_text: str) -> Location | None:
        where = where_of(error_text)
        return line_location(where) if where else None


@dataclass
class RawRenderers:
    """Renderers by protocol name, as the plug-ins declare them; by shape otherwise."""

    by_protocol: dict[str, RawRenderer] = field(default_factory=dict)

    def register(self, protocol: str, renderer: RawRenderer) -> None:
        self.by_protocol[protocol] = renderer

    def for_message(self, protocol: str, raw: bytes) -> RawRenderer:
        found = self.by_protocol.get(protocol)
        if found is not None:
            return found
        head = raw[:8].lstrip(b"\xef\xbb\xbf \r\n\t")
        if head.startswith(b"ISA"):
            return X12Segments()
        if head[:1] in (b"{", b"[", b"<"):
            return PrettyDocument()
        return PlainText()

    def render(self, protocol: str, raw: bytes, error_texts: Sequence[str]) -> RawView:
        """``raw`` with the locations named in ``error_texts`` highlighted."""
        renderer = self.for_message(protocol, raw)
        if len(raw) > MAX_RENDERED_BYTES:
            return plain_lines(_decode(raw), (), f"over {MAX_RENDERED_BYTES} bytes: not split")
        locations: list[Location] = []
        for text in error_texts:
            loc = renderer.location_in(text or "")
            if loc is not None and loc not in locations:
                locations.append(loc)
        return renderer.render(raw, locations)
