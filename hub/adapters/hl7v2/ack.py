"""ACK messages, built as ER7 text directly (hl7apy costs ~10 ms; this costs microseconds).

Rules followed (HL7 v2.5 chapter 2, sections 2.9 and 2.14):

* Original mode (MSH-15 and MSH-16 both empty): MSA-1 is AA, AE or AR.
* Enhanced mode (either present): the hub sends the *accept* acknowledgment, MSA-1 CA, CE or
  CR, only when MSH-15 asks for it: AL always (also when MSH-15 is empty), NE never, ER only on
  an error or reject, SU only on success (table 0155). Application-level ACKs (MSH-16) are not
  sent by the hub.
* MSH-15 and MSH-16 are read trimmed: a sender's ``" "`` is empty, not enhanced mode.
* The ACK's MSH swaps sending and receiving application/facility (copied as sent), uses the
  message's delimiters and MSH-11; MSH-12 echoes the message's version when it is one the hub
  knows (2.1 to 2.8.2), else it is :data:`DEFAULT_VERSION`, so that a sender's parser can read
  the ACK that refuses its version (the ERR carries 203); MSH-9 is ``ACK^<trigger>^ACK``
  (``ACK^<trigger>`` for v2.3, ``ACK`` for v2.1/2.2, which have no components there); MSA-2 is
  the message's MSH-10.
* One ERR segment per error: ERR-2 location (ERL: segment^sequence^field^repetition^component^
  subcomponent), ERR-3 table 0357 code (``101^Required field missing^HL70357``), ERR-4 severity
  (table 0516), ERR-8 the hub's own PHI-free text. Receivers before v2.5 read ERR-1 (ELD:
  segment^sequence^field^code), so it is filled too for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.adapters.hl7v2.checks import SUPPORTED_VERSIONS
from hub.adapters.hl7v2.errors import TEXT_0357, ack_code, code_0357, enhanced_code, error_for
from hub.adapters.hl7v2.escape import DEFAULT_DELIMITERS, Delimiters, escape
from hub.adapters.hl7v2.tokenizer import Message, Segment, parse
from hub.errors import Hl7Location, HubError, Location, ParseError, Severity

DEFAULT_VERSION = "2.5.1"
_ACCEPTED = frozenset({"AA", "CA"})


@dataclass(frozen=True, slots=True)
class AckResult:
    """What an ACK says: MSA-1, MSA-2 (the acknowledged MSH-10) and its ERR segments."""

    code: str
    control_id_acked: str
    errors: tuple[HubError, ...] = ()
    control_id: str = ""  # the ACK's own MSH-10
    text: str = ""  # MSA-3 (text message, before v2.5)

    @property
    def accepted(self) -> bool:
        return self.code in _ACCEPTED


def is_enhanced(msg: Message) -> bool:
    # trimmed: some senders pad MSH-15/16 with a space, which asks for nothing (table 0155)
    return bool(msg.accept_ack_type.strip() or msg.application_ack_type.strip())


def accept_ack_wanted(msg: Message, code: str) -> bool:
    """Whether MSH-15 (table 0155) asks for an accept ACK with this outcome."""
    if not is_enhanced(msg):
        return True
    condition = msg.accept_ack_type.strip() or "AL"
    if condition == "NE":
        return False
    if condition == "ER":
        return code != "AA"
    if condition == "SU":
        return code == "AA"
    return True


def build_ack(
    msg: Message | None,
    errors: Sequence[HubError] = (),
    *,
    control_id: str,
    now: datetime,
    code: str | None = None,
) -> bytes | None:
    """The ACK for ``msg`` (None: unparseable input, answered with default delimiters).

    ``code`` overrides the original-mode MSA-1 derived from ``errors``. Returns None when the
    sender asked for no accept acknowledgment in this case (enhanced mode, MSH-15).
    """
    code = code or ack_code(errors)
    if msg is not None and is_enhanced(msg):
        if not accept_ack_wanted(msg, code):
            return None
        code = enhanced_code(code)
    d = msg.delimiters if msg is not None else DEFAULT_DELIMITERS
    version = ack_version(msg)
    lines = [_msh(msg, d, version, control_id, now)]
    acked = escape(msg.control_id, d) if msg is not None else ""
    lines.append(d.field.join(("MSA", code, acked)))
    old = _version_tuple(version) < (2, 5)
    lines.extend(_err(e, d, old) for e in errors)
    encoding = msg.encoding if msg is not None else "utf-8"
    return ("\r".join(lines) + "\r").encode(encoding, errors="replace")


def ack_version(msg: Message | None) -> str:
    """MSH-12 of the ACK: the message's own version when known, else :data:`DEFAULT_VERSION`
    (an ACK saying ``9.9`` would be unreadable to the very sender it answers)."""
    version = msg.version.strip() if msg is not None else ""
    return version if version in SUPPORTED_VERSIONS else DEFAULT_VERSION


def _msh(msg: Message | None, d: Delimiters, version: str, control_id: str, now: datetime) -> str:
    c = d.component
    trigger = escape(msg.trigger, d) if msg is not None else ""
    vt = _version_tuple(version)
    if trigger and vt >= (2, 3, 1):
        msh9 = f"ACK{c}{trigger}{c}ACK"
    elif trigger and vt >= (2, 3):
        msh9 = f"ACK{c}{trigger}"
    else:
        msh9 = "ACK"
    if msg is None:
        swapped = ["", "", "", ""]
        processing, charset = "P", ""
    else:
        m = msg.msh
        swapped = [m.raw_field(5), m.raw_field(6), m.raw_field(3), m.raw_field(4)]
        processing, charset = m.raw_field(11) or "P", m.raw_field(18)
    fields = [
        "MSH",
        d.encoding_characters,
        *swapped,
        now.strftime("%Y%m%d%H%M%S%z"),
        "",
        msh9,
        escape(control_id, d),
        processing,
        escape(version, d),
    ]
    if charset:
        fields += ["", "", "", "", "", charset]
    return d.field.join(fields)


def _err(error: HubError, d: Delimiters, old: bool) -> str:
    c = d.component
    number = code_0357(error)
    text = TEXT_0357.get(number, "")
    loc = error.location
    fields = [
        "ERR",
        _eld(loc, number, text, d) if old else "",
        _erl(loc, c),
        f"{number}{c}{text}{c}HL70357",
        error.severity.value,
        "",
        "",
        "",
        escape(error.message, d),
    ]
    return d.field.join(fields)


def _erl(loc: Location | None, c: str) -> str:
    """ERR-2 (ERL). Only an HL7 location has one; any other kind leaves the field empty."""
    if not isinstance(loc, Hl7Location) or not loc.segment:
        return ""
    parts = [loc.segment, str(loc.sequence)]
    if loc.field is not None:
        parts += [str(loc.field), str(loc.repetition or 1)]
        if loc.component is not None:
            parts.append(str(loc.component))
            if loc.subcomponent is not None:
                parts.append(str(loc.subcomponent))
    return c.join(parts)


def _eld(loc: Location | None, number: int, text: str, d: Delimiters) -> str:
    """ERR-1 (ELD, before v2.5): segment^sequence^field^code."""
    c, s = d.component, d.subcomponent
    hl7 = loc if isinstance(loc, Hl7Location) and loc.segment else None
    segment = hl7.segment if hl7 is not None else ""
    sequence = str(hl7.sequence) if hl7 is not None else ""
    field = str(hl7.field) if hl7 is not None and hl7.field is not None else ""
    return c.join((segment, sequence, field, f"{number}{s}{text}{s}HL70357"))


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts) or (9,)


def build_batch_ack(acks: Sequence[bytes], *, now: datetime) -> bytes:
    """ACKs for an FHS/BHS batch, wrapped in BHS ... BTS (v2.5 section 2.10.3)."""
    body = [a for a in acks if a]
    stamp = now.strftime("%Y%m%d%H%M%S%z").encode()
    return (
        b"BHS|^~\\&|||||"
        + stamp
        + b"\r"
        + b"".join(body)
        + b"BTS|"
        + str(len(body)).encode()
        + b"\r"
    )


def parse_ack(data: bytes | str) -> AckResult:
    """Read an ACK (outbound deliveries check MSA-1 and that MSA-2 matches the sent MSH-10)."""
    msg = parse(data)
    msa = msg.first("MSA")
    if msa is None:
        raise ParseError(
            "not an acknowledgment: no MSA segment",
            code="segment_sequence",
            location=Hl7Location("MSA"),
        )
    errors = tuple(_read_err(seg) for seg in msg.all("ERR"))
    return AckResult(
        code=msa.get(1),
        control_id_acked=msa.get(2),
        errors=errors,
        control_id=msg.control_id,
        text=msa.get(3),
    )


def _read_err(seg: Segment) -> HubError:
    code_text = seg.get(3, 1) or seg.get(1, 4, 1)  # ERR-3 (v2.5+) or ERR-1.4 (ELD, before)
    number = int(code_text) if code_text.isdigit() else 207
    try:
        severity = Severity(seg.get(4) or "E")
    except ValueError:
        severity = Severity.ERROR
    message = seg.get(8) or seg.get(3, 2) or seg.get(1, 4, 2) or TEXT_0357.get(number, "error")
    return error_for(number, message, _read_location(seg), severity)


def _read_location(seg: Segment) -> Hl7Location | None:
    fld = 2 if seg.get(2, 1) else 1  # ERR-2 (ERL) or ERR-1 (ELD)
    segment = seg.get(fld, 1)
    if not segment:
        return None

    def num(i: int) -> int | None:
        value = seg.get(fld, i)
        return int(value) if value.isdigit() else None

    field = num(3)
    return Hl7Location(
        segment,
        sequence=num(2) or 1,
        field=field,
        repetition=num(4) if fld == 2 and field is not None else None,
        component=num(5) if fld == 2 and field is not None else None,
        subcomponent=num(6) if fld == 2 and field is not None else None,
    )
