"""One rule set for the fields the PM mappings need, read once at the ACK and again when mapping.

Each :class:`FieldRule` says which field of which message type the mapping reads and how: a
required value, a calendar date, a date/time, a number or a coded value. :func:`check_fields`
runs the table on the ACK path (:mod:`hub.adapters.hl7v2.checks`), and the mappings parse those
very fields with the readers below (:func:`read_dtm`, :func:`read_date`, :func:`read_decimal`,
:func:`read_coded`), so a value the mapping would refuse is refused in the ACK, at receipt,
instead of after an AA (issue 10, item 15). A unit test changes every field of one message per
type and checks that whatever the mapping refuses, this table refuses too.

Errors name a location and a table 0357 code, never the value (it may be patient data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from hub.adapters.hl7v2.errors import location
from hub.adapters.hl7v2.tokenizer import NULL, Message, Segment
from hub.errors import HubError, Location, ValidationError

# HL7 v2.5 section 2.A.22 DTM (TS component 1 before v2.6): YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]]
# with an optional +/-ZZZZ offset; fractions only after seconds.
_DTM = re.compile(
    r"^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?"
    r"(?:([+-])(\d{2})(\d{2}))?$",
    re.ASCII,
)

SEXES = frozenset("FMOUAN")  # HL7 table 0001 administrative sex
# Duration units senders write in AIS-8 / SCH-10 (ISO+ and ANSI forms), in minutes.
DURATION_UNITS: dict[str, float] = {
    "MIN": 1.0,
    "M": 1.0,
    "MINUTES": 1.0,
    "MINUTE": 1.0,
    "H": 60.0,
    "HR": 60.0,
    "HOURS": 60.0,
    "HOUR": 60.0,
    "S": 1 / 60,
    "SEC": 1 / 60,
    "SECONDS": 1 / 60,
    "D": 1440.0,
    "DAY": 1440.0,
    "DAYS": 1440.0,
}


def _fail(code: str, what: str, where: Location) -> ValidationError:
    return ValidationError(what, code=code, location=where)


def read_dtm(value: str, where: Location, tz: tzinfo = UTC) -> datetime:
    """A DTM as an aware UTC datetime; no offset means the practice zone ``tz``."""
    return _read(_dtm(_DTM.match(value.strip()), tz), where)


def read_date(value: str, where: Location) -> date:
    """The calendar date as written (a DTM with at least YYYYMMDD; time and offset ignored)."""
    return _read(_date(value), where)


def read_decimal(value: str, where: Location, *, positive: bool = False) -> Decimal:
    return _read(_decimal(value, positive), where)


def read_coded(value: str, table: frozenset[str], where: Location, name: str) -> str:
    """The value upper-cased when it is in ``table`` (``name``: the table, for the ERR)."""
    return _read(_coded(value, table, name), where)


# The readers' rules answer the value, or the problem: its 0357 code and PHI-free text. The
# mappings raise it (``read_*``); the ACK-path checks turn it into an ERR without raising (no
# exception, and no location built, for a value that is fine: they run on every message).
Problem = tuple[str, str]
T = TypeVar("T")


def _read(found: T | Problem, where: Location) -> T:
    if isinstance(found, tuple):
        raise _fail(found[0], found[1], where)
    return found


def _dtm(m: re.Match[str] | None, tz: tzinfo) -> datetime | Problem:
    if m is None:
        return "data_type", "malformed date/time"
    year, month, day, hour, minute, sec, frac, sign, oh, om = m.groups()
    try:
        micro = int((frac or "0").ljust(6, "0")[:6])
        naive = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(sec or 0),
            micro,
        )
        zone: tzinfo = tz
        if sign:
            if int(oh) > 14 or int(om) > 59:
                return _IMPOSSIBLE
            offset = timedelta(hours=int(oh), minutes=int(om))
            zone = timezone(offset if sign == "+" else -offset)
        return naive.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return _IMPOSSIBLE


_IMPOSSIBLE: Problem = ("data_type", "impossible date/time")


def _date(value: str) -> date | Problem:
    m = _DTM.match(value.strip())
    if m is None or m.group(3) is None:
        return "data_type", "malformed date"
    found = _dtm(m, UTC)  # the time part must be valid too
    if isinstance(found, tuple):
        return found
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _decimal(value: str, positive: bool) -> Decimal | Problem:
    try:
        d = Decimal(value.strip())
    except InvalidOperation:
        return "data_type", "not a number"
    if not d.is_finite():
        return "data_type", "not a number"
    if positive and d <= 0:
        return "data_type", "quantity must be positive"
    return d


def _coded(value: str, table: frozenset[str], name: str) -> str | Problem:
    code = value.strip().upper()
    return code if code in table else ("table_value", f"value not in {name}")


class Kind(StrEnum):
    REQUIRED = "required"
    DATE = "date"
    DATETIME = "datetime"
    NUMERIC = "numeric"
    CODED = "coded"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """``segment``-``field``.``component`` of every occurrence of the segment, in messages whose
    MSH-9.1 is in ``codes`` (and MSH-9.2 in ``triggers`` when given)."""

    segment: str
    field: int
    kind: Kind
    codes: frozenset[str]
    component: int = 1
    triggers: frozenset[str] = frozenset()
    alternatives: tuple[int, ...] = ()  # REQUIRED: any of these fields will do instead
    table: frozenset[str] = frozenset()  # CODED: allowed values (upper case)
    table_name: str = ""
    positive: bool = False  # NUMERIC: must be above zero
    what: str = ""  # REQUIRED: PHI-free text for the ERR
    # The mapping reads some fields only as a fallback; the rule then applies as it does:
    # ``when``: only if all these ``SEG-F`` have a value; ``unless``: not if, for any group,
    # all its ``SEG-F`` have a value. Same segment: that occurrence; else the first one.
    when: tuple[str, ...] = ()
    unless: tuple[tuple[str, ...], ...] = ()

    def applies(self, code: str, trigger: str) -> bool:
        return code in self.codes and (not self.triggers or trigger in self.triggers)


def _set(*items: str) -> frozenset[str]:
    return frozenset(items)


ALL = _set("ADT", "SIU", "DFT")
_COVERAGE = _set("A01", "A04", "A08", "A28", "A31")  # hl7v2_adt reads IN1 for these
_VISIT = _set("A01", "A03", "A04", "A08", "A11", "A13")  # and PV1 for these
_MERGE = _set("A40", "A47")
_UNITS = frozenset(DURATION_UNITS)
_MINUTES_KNOWN = (("AIS-7",), ("TQ1-7", "TQ1-8"))
_SIU = _set("SIU")
_TIMED = _set("S12", "S13", "S14")  # S15/S17/S26 only change the status: no times are read

# Segments a mapping cannot do without (0357 code 100 when absent).
REQUIRED_SEGMENTS: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = (
    ("PID", _set("ADT", "DFT"), frozenset()),
    ("MRG", _set("ADT"), _MERGE),
    ("SCH", _set("SIU"), frozenset()),
    ("FT1", _set("DFT"), frozenset()),
)

D, DT, N, C, R = Kind.DATE, Kind.DATETIME, Kind.NUMERIC, Kind.CODED, Kind.REQUIRED
RULES: tuple[FieldRule, ...] = (
    FieldRule("PID", 3, R, ALL, what="patient identifier list missing"),
    FieldRule("MRG", 1, R, _set("ADT"), triggers=_MERGE, what="prior patient identifier missing"),
    FieldRule("SCH", 2, R, _set("SIU"), what="filler appointment id missing"),
    FieldRule("FT1", 4, R, _set("DFT"), what="transaction date missing"),
    FieldRule("FT1", 25, R, _set("DFT"), alternatives=(7,), what="procedure code missing"),
    FieldRule("FT1", 11, R, _set("DFT"), alternatives=(12,), what="charge amount missing"),
    FieldRule("PID", 7, D, ALL),
    FieldRule("PID", 8, C, ALL, table=SEXES, table_name="table 0001"),
    FieldRule("PV1", 44, DT, _set("ADT"), triggers=_VISIT),
    FieldRule("PV1", 45, DT, _set("ADT"), triggers=_VISIT),
    FieldRule("EVN", 6, DT, _set("ADT"), triggers=_set("A03"), unless=(("PV1-45",),)),
    FieldRule("EVN", 2, DT, _set("ADT"), triggers=_set("A03"), unless=(("PV1-45",), ("EVN-6",))),
    FieldRule("IN1", 12, D, _set("ADT"), triggers=_COVERAGE),
    FieldRule("IN1", 13, D, _set("ADT"), triggers=_COVERAGE),
    FieldRule("IN1", 18, D, _set("ADT"), triggers=_COVERAGE),
    FieldRule("SCH", 11, DT, _SIU, component=4, triggers=_TIMED, unless=(("AIS-4",), ("TQ1-7",))),
    # hl7v2_siu: the minutes come from AIS-7, else TQ1-8 minus TQ1-7, else SCH-9 (SCH-10 units)
    FieldRule("SCH", 9, N, _SIU, triggers=_TIMED, unless=_MINUTES_KNOWN),
    FieldRule(
        "SCH",
        10,
        C,
        _SIU,
        triggers=_TIMED,
        table=_UNITS,
        table_name="duration units",
        when=("SCH-9",),
        unless=_MINUTES_KNOWN,
    ),
    FieldRule("TQ1", 7, DT, _SIU, triggers=_TIMED),
    FieldRule("TQ1", 8, DT, _SIU, triggers=_TIMED, when=("TQ1-7",), unless=(("AIS-7",),)),
    FieldRule("AIS", 4, DT, _SIU, triggers=_TIMED),
    FieldRule("AIS", 7, N, _SIU, triggers=_TIMED),
    FieldRule(
        "AIS",
        8,
        C,
        _SIU,
        triggers=_TIMED,
        table=_UNITS,
        table_name="duration units",
        when=("AIS-7",),
    ),
    FieldRule("FT1", 4, D, _set("DFT")),
    FieldRule("FT1", 10, N, _set("DFT"), positive=True),
    FieldRule("FT1", 11, N, _set("DFT")),
    FieldRule("FT1", 12, N, _set("DFT"), unless=(("FT1-11",),)),
)


def value(seg: Segment, field: int, component: int = 1) -> str | None:
    """The value, or None when empty or the explicit null ``""``."""
    v = seg.get(field, component).strip()
    return None if not v or v == NULL else v


def check_fields(msg: Message) -> list[HubError]:
    """Every rule of the table that applies to this message type, in segment order."""
    code, trigger = msg.message_code, msg.trigger
    errors: list[HubError] = [
        ValidationError(f"{name} segment missing", code="segment_sequence", location=location(name))
        for name, codes, triggers in REQUIRED_SEGMENTS
        if code in codes and (not triggers or trigger in triggers) and msg.first(name) is None
    ]
    by_segment = _checks_for(code, trigger)
    counts: dict[str, int] = {}
    for seg in msg.segments:
        checks = by_segment.get(seg.name)
        if checks is None:
            continue
        sequence = counts[seg.name] = counts.get(seg.name, 0) + 1
        for check in checks:
            if (check.when or check.unless) and not check.in_force(msg, seg):
                continue
            problem = check.problem(seg)
            if problem is not None:
                rule = check.rule
                comp = rule.component if rule.component != 1 else None
                where = location(rule.segment, rule.field, comp, sequence=sequence)
                errors.append(_fail(*problem, where))
    return errors


Ref = tuple[str, int]  # ``SEG-F`` parsed: the segment and the field


@dataclass(frozen=True, slots=True)
class _Check:
    """A rule made ready to run: its ``when``/``unless`` references parsed once per type."""

    rule: FieldRule
    when: tuple[Ref, ...]
    unless: tuple[tuple[Ref, ...], ...]

    def in_force(self, msg: Message, seg: Segment) -> bool:
        if not all(_has(msg, seg, ref) for ref in self.when):
            return False
        return not any(all(_has(msg, seg, ref) for ref in group) for group in self.unless)

    def problem(self, seg: Segment) -> Problem | None:
        """The problem with this rule's field in ``seg``, if any."""
        rule = self.rule
        if rule.kind is Kind.REQUIRED:
            if any(_any_repetition(seg, f) for f in (rule.field, *rule.alternatives)):
                return None
            return "required_field_missing", rule.what
        found = value(seg, rule.field, rule.component)
        if found is None:
            return None
        answer: object
        if rule.kind is Kind.DATE:
            answer = _date(found)
        elif rule.kind is Kind.DATETIME:
            answer = _dtm(_DTM.match(found), UTC)
        elif rule.kind is Kind.NUMERIC:
            answer = _decimal(found, rule.positive)
        else:
            answer = _coded(found, rule.table, rule.table_name)
        return answer if isinstance(answer, tuple) else None


_BY_TYPE: dict[tuple[str, str], dict[str, tuple[_Check, ...]]] = {}


def _checks_for(code: str, trigger: str) -> dict[str, tuple[_Check, ...]]:
    """The rules that apply to a message type, by segment (computed once per type seen; the
    types a sender can name are bounded by the tokenizer's limits, and unknown ones are refused
    before this runs, but the cache is capped all the same)."""
    found = _BY_TYPE.get((code, trigger))
    if found is None:
        grouped: dict[str, list[_Check]] = {}
        for rule in RULES:
            if rule.applies(code, trigger):
                ready = _Check(
                    rule,
                    tuple(_ref(r) for r in rule.when),
                    tuple(tuple(_ref(r) for r in group) for group in rule.unless),
                )
                grouped.setdefault(rule.segment, []).append(ready)
        found = {name: tuple(checks) for name, checks in grouped.items()}
        if len(_BY_TYPE) < 256:
            _BY_TYPE[(code, trigger)] = found
    return found


def _ref(text: str) -> Ref:
    name, _, number = text.partition("-")
    return name, int(number)


def _any_repetition(seg: Segment, field: int) -> bool:
    """A value in any repetition (hl7v2_values.identifiers reads them all)."""
    for rep in range(1, seg.repetitions(field) + 1):
        v = seg.get(field, 1, 1, rep).strip()
        if v and v != NULL:
            return True
    return False


def _has(msg: Message, seg: Segment, ref: Ref) -> bool:
    name, number = ref
    other = seg if name == seg.name else msg.first(name)
    return other is not None and value(other, number) is not None
