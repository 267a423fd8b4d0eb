"""The hub's own HL7 v2 ER7 tokenizer: fast enough for the ACK path, complete enough for mapping.

Design (why not python-hl7 / hl7apy here): the ACK path must answer in well under a millisecond,
so :func:`parse` only decodes the bytes, finds the delimiters (MSH-1, MSH-2) and cuts segments.
Fields are split lazily on first access and values are unescaped only when asked for.

Accepted input (issue 3): CR, LF or CRLF segment endings, a leading UTF-8 BOM, leading blank
lines. When the text contains a CR, only CR (or CRLF) ends a segment, so a stray LF inside a
field survives; text without any CR is split on LF.

Character set (MSH-18, HL7 table 0211): when ``parse`` gets bytes and no ``charset``, MSH-18's
first repetition decides; absent, unknown or undecodable, ``default_charset`` (the setting
``HUB_HL7_DEFAULT_CHARSET``, utf-8) is tried, then latin-1, which decodes any byte string.

Numbering follows HL7: MSH-1 is the field separator and MSH-2 the encoding characters, so
``msg.get("MSH-9.1")`` is the message code in every segment's own numbering.
"""

from __future__ import annotations

from functools import lru_cache

from hub.adapters.hl7v2.escape import Delimiters, unescape
from hub.adapters.hl7v2.structure import structure_for
from hub.errors import Hl7Location, LineLocation, ParseError

__all__ = [
    "NULL",
    "Delimiters",
    "Message",
    "Segment",
    "is_batch",
    "parse",
    "python_codec",
    "split_batch",
]

# HL7 explicit null (v2.5 section 2.5.3): "clear this value", as opposed to "" (not sent).
NULL = '""'

# HL7 table 0211 (alternate character sets) -> Python codec names.
CHARSETS_0211: dict[str, str] = {
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "latin-1",
    "ISO IR100": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "ISO IR87": "iso2022_jp",
    "ISO IR159": "iso2022_jp_1",
    "ISO IR192": "utf-8",
    "GB 18030-2000": "gb18030",
    "KS X 1001": "euc_kr",
    "BIG-5": "big5",
    "UNICODE": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
}

_BOM = "\ufeff"
_BATCH_HEADS = (b"FHS", b"BHS")
_BATCH_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")


def python_codec(hl7_name: str) -> str | None:
    """The Python codec for an HL7 table 0211 name (case-insensitive), or None if unknown."""
    return CHARSETS_0211.get(hl7_name.strip().upper())


class Segment:
    """One segment; fields are split on first access (``raw`` is kept as sent).

    Each level (fields, a field's repetitions, a repetition's components, a component's
    subcomponents) is split at most once and kept, so reading every repetition of a field is
    linear in its length (issue 10 item 5: re-splitting per repetition was quadratic).
    """

    __slots__ = ("_charset", "_delims", "_fields", "_parts", "name", "raw")

    def __init__(self, raw: str, delims: Delimiters, charset: str = "utf-8") -> None:
        self.raw = raw
        self.name = raw[:3]
        self._delims = delims
        self._charset = charset
        self._fields: list[str] | None = None
        # (field,) -> repetitions, (field, rep) -> components, (field, rep, comp) -> subcomponents
        self._parts: dict[tuple[int, ...], list[str]] = {}

    def _split(self) -> list[str]:
        fields = _split(self.raw, self._delims.field)
        if self.name == "MSH":  # MSH-1 is the separator itself
            fields.insert(1, self._delims.field)
        self._fields = fields
        return fields

    @property
    def field_count(self) -> int:
        fields = self._fields or self._split()
        return len(fields) - 1

    def raw_field(self, field: int) -> str:
        """Field ``field`` exactly as sent (still escaped), "" when absent."""
        fields = self._fields or self._split()
        return fields[field] if 0 < field < len(fields) else ""

    def repetitions(self, field: int) -> int:
        value = self.raw_field(field)
        if not value:
            return 0
        if self.name == "MSH" and field <= 2:
            return 1
        return len(self._level((field,), value, self._delims.repetition))

    def get(
        self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1
    ) -> str:
        """The unescaped value; "" when absent, :data:`NULL` verbatim when sent as ``""``."""
        fields = self._fields or self._split()
        if not 0 < field < len(fields):
            return ""
        value = fields[field]
        if not value:
            return ""
        if self.name == "MSH" and field <= 2:
            return value if component == subcomponent == repetition == 1 else ""
        d = self._delims
        # Most fields hold one value: a level without its separator is the value itself at
        # position 1 and absent elsewhere, with no split and no cache look-up (hot path).
        if d.repetition in value:
            value = _pick(self._level((field,), value, d.repetition), repetition)
        elif repetition != 1:
            return ""
        if d.component in value:
            value = _pick(self._level((field, repetition), value, d.component), component)
        elif component != 1:
            return ""
        if d.subcomponent in value:
            parts = self._level((field, repetition, component), value, d.subcomponent)
            value = _pick(parts, subcomponent)
        elif subcomponent != 1:
            return ""
        if d.escape in value:
            return unescape(value, d, charset=self._charset)
        return value

    def _level(self, key: tuple[int, ...], value: str, sep: str) -> list[str]:
        """``value`` split on ``sep``, split once per key and kept."""
        if sep not in value:
            return [value]
        parts = self._parts.get(key)
        if parts is None:
            parts = self._parts[key] = _split(value, sep)
        return parts

    def __repr__(self) -> str:  # no content: segments carry PHI
        return f"<Segment {self.name}>"


def _split(value: str, sep: str) -> list[str]:
    """Every split the tokenizer makes goes through here (the linearity test counts them)."""
    return value.split(sep)


def _pick(parts: list[str], index: int) -> str:
    return parts[index - 1] if 0 < index <= len(parts) else ""


class Message:
    """A parsed ER7 message: ``segments`` in order, ``delimiters`` from MSH-1/MSH-2."""

    __slots__ = ("delimiters", "encoding", "segments")

    def __init__(
        self, segments: list[Segment], delimiters: Delimiters, encoding: str = "utf-8"
    ) -> None:
        self.segments = segments
        self.delimiters = delimiters
        self.encoding = encoding  # the Python codec the bytes were decoded with

    def first(self, name: str) -> Segment | None:
        for seg in self.segments:
            if seg.name == name:
                return seg
        return None

    def all(self, name: str) -> list[Segment]:
        return [seg for seg in self.segments if seg.name == name]

    def get(self, path: str) -> str:
        """``SEG-F``, ``SEG-F.C``, ``SEG-F.C.S``, ``SEG-F[R].C``, ``SEG[2]-F`` (1-based)."""
        name, occurrence, field, rep, comp, sub = _parse_path(path)
        if occurrence == 1:
            seg = self.first(name)
        else:
            found = self.all(name)
            seg = found[occurrence - 1] if occurrence <= len(found) else None
        return seg.get(field, comp, sub, rep) if seg is not None else ""

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    @property
    def message_code(self) -> str:
        return self.msh.get(9, 1)

    @property
    def trigger(self) -> str:
        return self.msh.get(9, 2)

    @property
    def type(self) -> str:
        code, trigger = self.msh.get(9, 1), self.msh.get(9, 2)
        return f"{code}^{trigger}" if trigger else code

    @property
    def structure(self) -> str:
        msh = self.msh
        return structure_for(msh.get(9, 1), msh.get(9, 2), msh.get(9, 3))

    @property
    def control_id(self) -> str:
        return self.msh.get(10)

    @property
    def processing_id(self) -> str:
        return self.msh.get(11)

    @property
    def version(self) -> str:
        return self.msh.get(12)

    @property
    def sending_application(self) -> str:
        return self.msh.raw_field(3)

    @property
    def sending_facility(self) -> str:
        return self.msh.raw_field(4)

    @property
    def receiving_application(self) -> str:
        return self.msh.raw_field(5)

    @property
    def receiving_facility(self) -> str:
        return self.msh.raw_field(6)

    @property
    def accept_ack_type(self) -> str:
        return self.msh.get(15)

    @property
    def application_ack_type(self) -> str:
        return self.msh.get(16)

    @property
    def charset(self) -> str:
        return self.msh.get(18)

    def to_er7(self) -> str:
        """The message as text, each segment ended by CR (v2.5 section 2.5.2)."""
        return "\r".join(seg.raw for seg in self.segments) + "\r"

    def encode(self) -> bytes:
        return self.to_er7().encode(self.encoding)

    def __repr__(self) -> str:
        return f"<Message {self.type} {len(self.segments)} segments>"


@lru_cache(maxsize=2048)
def _parse_path(path: str) -> tuple[str, int, int, int, int, int]:
    seg_part, dash, rest = path.partition("-")
    if not dash or not rest:
        raise ValueError(f"bad HL7 path {path!r}")
    name, occurrence = _indexed(seg_part)
    parts = rest.split(".")
    if len(parts) > 3:
        raise ValueError(f"bad HL7 path {path!r}")
    field_text, rep = _indexed(parts[0])
    comp = int(parts[1]) if len(parts) > 1 else 1
    sub = int(parts[2]) if len(parts) > 2 else 1
    return name, occurrence, int(field_text), rep, comp, sub


def _indexed(text: str) -> tuple[str, int]:
    if "[" not in text:
        return text, 1
    base, _, index = text.partition("[")
    return base, int(index.rstrip("]"))


def parse(
    data: bytes | str, *, charset: str | None = None, default_charset: str = "utf-8"
) -> Message:
    """Parse one ER7 message. Raises :class:`ParseError` with a :class:`Location`."""
    if isinstance(data, bytes):
        text, codec = _decode(data, charset, default_charset)
    else:
        text, codec = data, charset or default_charset
    if text.startswith(_BOM):
        text = text[1:]
    if text[:1] in ("\r", "\n", " ", "\t"):
        text = text.lstrip("\r\n \t")
    if not text.startswith("MSH"):
        raise ParseError(
            "no MSH segment at the start of the message",
            code="segment_sequence",
            location=Hl7Location("MSH"),
        )
    delims = _delimiters(text)
    # With any CR in the text, CR (or CRLF) ends segments and a lone LF is data.
    lines = text.replace("\r\n", "\r").split("\r") if "\r" in text else text.split("\n")
    fs = delims.field
    segments: list[Segment] = []
    for number, line in enumerate(lines, 1):
        if not line or line.isspace():
            continue
        name = line[:3]
        if (
            len(name) < 3
            or not (name.isascii() and name.isalnum())
            or (len(line) > 3 and line[3] != fs)
        ):
            raise ParseError(
                f"line {number} is not an HL7 segment",
                code="segment_sequence",
                location=LineLocation(number),
            )
        segments.append(Segment(line, delims, codec))
    return Message(segments, delims, codec)


def _delimiters(text: str) -> Delimiters:
    """MSH-1 and MSH-2 (v2.5 section 2.5.4); the values must be distinct non-alphanumerics."""
    fs = text[3:4]
    end = text.find(fs, 4) if fs else -1
    header_end = min((i for i in (text.find("\r"), text.find("\n")) if i >= 0), default=len(text))
    if end < 0 or end > header_end:
        end = header_end
    enc = text[4:end]
    chars = fs + enc
    if (
        not fs
        or len(enc) not in (4, 5)
        or len(set(chars)) != len(chars)
        or any(c.isalnum() or c.isspace() for c in chars)
    ):
        raise ParseError(
            "invalid field separator or encoding characters",
            code="data_type",
            location=Hl7Location("MSH", field=2),
        )
    return Delimiters(
        field=fs,
        component=enc[0],
        repetition=enc[1],
        escape=enc[2],
        subcomponent=enc[3],
        truncation=enc[4] if len(enc) == 5 else None,
    )


def _decode(data: bytes, charset: str | None, default_charset: str) -> tuple[str, str]:
    candidates: list[str] = []
    if charset:
        candidates.append(charset)
    else:
        declared = _peek_msh18(data)
        if declared:
            candidates.append(declared)
    candidates += [default_charset, "latin-1"]
    for codec in candidates:
        try:
            return data.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    raise ParseError(  # pragma: no cover - latin-1 decodes any bytes
        "cannot decode the message",
        code="data_type",
        location=Hl7Location("MSH", field=18),
    )


def _peek_msh18(data: bytes) -> str | None:
    """MSH-18's first repetition, read from the raw header line (ASCII-compatible sets)."""
    start = data.find(b"MSH")
    if start < 0 or start > 8 or len(data) < start + 8:
        return None
    end = len(data)
    for sep in (b"\r", b"\n"):
        i = data.find(sep, start)
        if 0 <= i < end:
            end = i
    header = data[start:end].decode("latin-1")
    if len(header) < 4:  # "MSH" alone on its line: no field separator to split by
        return None
    fields = header.split(header[3])
    if len(fields) < 18 or not fields[17]:
        return None
    first = fields[17].split(header[5] if len(header) > 5 else "~")[0]
    return python_codec(first)


def is_batch(data: bytes) -> bool:
    """True when ``data`` starts (after a BOM or blank lines) with FHS or BHS and a field
    separator."""
    head = data[:64].lstrip(b"\xef\xbb\xbf").lstrip(b"\r\n \t")
    # the header names its field separator at once; "FHS" alone is no batch but a bad message
    separator = head[3:4]
    return (
        head[:3] in _BATCH_HEADS
        and separator not in (b"", b"\r", b"\n")
        and not (separator.isalnum())
    )


def split_batch(data: bytes) -> list[bytes]:
    """The messages of an FHS/BHS batch file (v2.5 section 2.10.3), each as its own bytes.

    Batch envelope segments (FHS, BHS, BTS, FTS) are dropped; any text before the first MSH that
    is not an envelope segment is dropped too. Also splits several bare messages in one blob.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    messages: list[bytes] = []
    current: list[bytes] = []
    for line in data.splitlines(keepends=True):
        head = line[:3]
        if head in _BATCH_SEGMENTS:
            if current:
                messages.append(b"".join(current))
                current = []
            continue
        if head == b"MSH" and current:
            messages.append(b"".join(current))
            current = []
        if current or head == b"MSH":
            current.append(line)
    if current:
        messages.append(b"".join(current))
    return messages
