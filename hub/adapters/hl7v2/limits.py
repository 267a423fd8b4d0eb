"""Bounds on what a sender may make the hub work through, checked before anything else reads
the message (issue 10 items 5 and 9).

* Repetitions per field (``HUB_HL7_MAX_REPETITIONS``) and components per repetition, or
  subcomponents per component (``HUB_HL7_MAX_COMPONENTS``). Real messages stay far below
  (PID-3 carries a handful of identifiers; the widest v2 data types have about 20 components);
  a message past a bound is answered AR with ERR 102 (data type error, HL7 table 0357) at the
  field, and nothing else of it is read.
* MSH-9 (message type): at most three components of at most :data:`MAX_TYPE_PART` letters,
  digits or ``_`` (HL7 ID values: ``ADT``, ``A01``, ``ADT_A01``). The type goes into the store,
  the log, the audit detail and metrics, so anything else is AR at MSH-9 rather than copied
  there at full length.

The scan costs one ``str.count`` per separator per segment; fields are only looked at one by
one in a segment that could break a bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.adapters.hl7v2.errors import location
from hub.adapters.hl7v2.tokenizer import Message, Segment
from hub.errors import ParseError

MAX_TYPE_PART = 16
_TYPE_PART = re.compile(rf"[A-Za-z0-9_]{{0,{MAX_TYPE_PART}}}")


@dataclass(frozen=True, slots=True)
class Limits:
    max_repetitions: int = 1000
    max_components: int = 100


def check_limits(msg: Message, limits: Limits) -> ParseError | None:
    """The first bound ``msg`` breaks (an AR error with its location), or None."""
    bad_type = check_type(msg)
    if bad_type is not None:
        return bad_type
    d = msg.delimiters
    sequence: dict[str, int] = {}
    for seg in msg.segments:
        sequence[seg.name] = n = sequence.get(seg.name, 0) + 1
        raw = seg.raw
        if (
            raw.count(d.repetition) < limits.max_repetitions
            and raw.count(d.component) < limits.max_components
            and raw.count(d.subcomponent) < limits.max_components
        ):
            continue  # no field of this segment can break a bound
        found = _check_segment(seg, n, msg, limits)
        if found is not None:
            return found
    return None


def _check_segment(seg: Segment, n: int, msg: Message, limits: Limits) -> ParseError | None:
    d = msg.delimiters
    first = 3 if seg.name == "MSH" else 1  # MSH-1 and MSH-2 are the delimiters themselves
    for field in range(first, seg.field_count + 1):
        value = seg.raw_field(field)
        if value.count(d.repetition) >= limits.max_repetitions:
            return ParseError(
                f"{seg.name}-{field} repeats more than {limits.max_repetitions} times",
                code="data_type",
                location=location(seg.name, field, sequence=n),
            )
        if (
            value.count(d.component) >= limits.max_components
            or value.count(d.subcomponent) >= limits.max_components
        ) and _too_wide(value, msg, limits.max_components):
            return ParseError(
                f"{seg.name}-{field} has more than {limits.max_components} components"
                " or subcomponents",
                code="data_type",
                location=location(seg.name, field, sequence=n),
            )
    return None


def _too_wide(value: str, msg: Message, limit: int) -> bool:
    """Some repetition has over ``limit`` components, or some component over ``limit``
    subcomponents (``count`` of separators ``>= limit`` means more than ``limit`` parts)."""
    d = msg.delimiters
    for rep in value.split(d.repetition):
        if rep.count(d.component) >= limit:
            return True
        if rep.count(d.subcomponent) >= limit and any(
            comp.count(d.subcomponent) >= limit for comp in rep.split(d.component)
        ):
            return True
    return False


def check_type(msg: Message) -> ParseError | None:
    """MSH-9 within its bounds (see the module docstring), else an AR error at MSH-9."""
    d = msg.delimiters
    value = msg.msh.raw_field(9)
    parts = value.split(d.component)
    if (
        len(parts) > 3
        or d.repetition in value
        or not all(_TYPE_PART.fullmatch(part) for part in parts)
    ):
        return ParseError(
            f"message type is not 1 to 3 codes of at most {MAX_TYPE_PART} letters or digits",
            code="data_type",
            location=location("MSH", 9),
        )
    return None
