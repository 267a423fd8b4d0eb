"""FHIR search parameters (FHIR search.html) into a neutral :class:`~hub.pm.queries.PmQuery`.

Per type, each supported parameter names the PM field it compares and how its value reads:
token (``system|value`` or bare value; a status code through the type's vocabulary), string
(case-insensitive starts-with), date with a prefix (``eq``, ``ne``, ``lt``, ``gt``, ``le``,
``ge``; the value's precision is a range: ``2024-03`` is March), reference (``Patient/1`` or
``1``). ``_id``, ``_lastUpdated``, ``_count``, ``_offset``, ``_sort``, ``_include`` and
``_total`` are common. A parameter we do not know (or a modifier we do not support) is
ignored and reported, or refused under ``Prefer: handling=strict``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.errors import FhirLocation, ValidationError
from hub.mappings.pm_fhir.common import namespace_of
from hub.mappings.pm_fhir.visits import APPOINTMENT_STATUS, ENCOUNTER_STATUS
from hub.pm.enums import AppointmentStatus, ClaimPaymentStatus, ClaimStatus
from hub.pm.queries import Criterion, DateRange, Field, IdentifierValue, Kind, Op, PmQuery, Sort

MAX_COUNT = 1000
DEFAULT_COUNT = 20
MAX_VALUES = 50  # alternatives in one parameter (a,b,c)
_NEVER: tuple[str | int | DateRange | IdentifierValue | None, ...] = (-1,)  # matches no id

Value = str | int | DateRange | IdentifierValue | None
Reader = Callable[[str, str], tuple[Field, Op, tuple[Value, ...]]]


def bad(param: str, text: str) -> ValidationError:
    return ValidationError(text, code="invalid_parameter", location=FhirLocation(param))


# -------------------------------------------------------------------- value readers

_DATE = re.compile(
    r"(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<time>\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_PREFIXES = {"eq": Op.EQ, "ne": Op.NE, "lt": Op.LT, "gt": Op.GT, "le": Op.LE, "ge": Op.GE}


def date_range(text: str, param: str) -> DateRange:
    """The instants a FHIR date of some precision stands for (FHIR search.html#date)."""
    m = _DATE.fullmatch(text)
    if m is None:
        raise bad(param, f"{param}: not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)")
    try:
        year = int(m["y"])
        if m["time"]:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            step = timedelta(seconds=1) if m["time"].count(":") == 2 else timedelta(minutes=1)
            return DateRange(when, when + step)
        if m["d"]:
            start = datetime(year, int(m["m"]), int(m["d"]), tzinfo=UTC)
            return DateRange(start, start + timedelta(days=1))
        if m["m"]:
            month = int(m["m"])
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return DateRange(start, end)
        return DateRange(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))
    except (ValueError, OverflowError):
        raise bad(param, f"{param}: not a valid date") from None


def _split(value: str) -> list[str]:
    parts = [p for p in re.split(r"(?<!\\),", value) if p]
    if len(parts) > MAX_VALUES:
        raise ValidationError(f"more than {MAX_VALUES} values", code="invalid_parameter")
    return [p.replace("\\,", ",") for p in parts]


def date_reader(target: Field) -> Reader:
    def read(param: str, value: str) -> tuple[Field, Op, tuple[Value, ...]]:
        prefix, rest = value[:2], value[2:]
        op = _PREFIXES.get(prefix)
        if op is None:
            op, rest = Op.EQ, value
        return target, op, (date_range(rest, param),)

    return read


def string_reader(target: Field) -> Reader:
    def read(param: str, value: str) -> tuple[Field, Op, tuple[Value, ...]]:
        return target, Op.PREFIX, tuple(_split(value)[:MAX_VALUES])

    return read


def reference_reader(target: Field, *types: str) -> Reader:
    def read(param: str, value: str) -> tuple[Field, Op, tuple[Value, ...]]:
        ids: list[Value] = []
        for item in _split(value):
            kind, _, ident = item.rpartition("/")
            kind = kind.rsplit("/", 1)[-1]
            if kind and types and kind not in types:
                raise bad(param, f"{param} refers to {' or '.join(types)}, not {kind[:40]}")
            if not ident.isdigit() or len(ident) > 18:
                ids.extend(_NEVER)  # a well-formed id this server never issued matches nothing
            else:
                ids.append(int(ident))
        return target, Op.EQ, tuple(ids)

    return read


def id_reader(param: str, value: str) -> tuple[Field, Op, tuple[Value, ...]]:
    ids: list[Value] = []
    for item in _split(value):
        ids.append(int(item) if item.isdigit() and len(item) <= 18 else -1)
    return Field.ID, Op.EQ, tuple(ids)


def identifier_reader(param: str, value: str) -> tuple[Field, Op, tuple[Value, ...]]:
    out: list[Value] = []
    for item in _split(value):
        if "|" in item:
            system, _, ident = item.partition("|")
            if not ident:
                raise bad(param, "identifier: a value is needed after system|")
            out.append(IdentifierValue(ident, namespace_of(system) if system else None))
        else:
            out.append(IdentifierValue(item))
    return Field.IDENTIFIER, Op.EQ, tuple(out)


def token_reader(target: Field, codes: Mapping[str, tuple[Value, ...]] | None = None) -> Reader:
    """A code, through ``codes`` (FHIR code -> PM values) when the PM's vocabulary differs."""

    def read(param: str, value: str) -> tuple[Field, Op, tuple[Value, ...]]:
        found: list[Value] = []
        for item in _split(value):
            code = item.rpartition("|")[2]
            if codes is None:
                found.append(code)
            else:
                found.extend(codes.get(code, _NEVER))
        return target, Op.EQ, tuple(found)

    return read


def _inverse(table: dict[Any, str]) -> dict[str, tuple[Value, ...]]:
    out: dict[str, list[Value]] = {}
    for pm, fhir in table.items():
        out.setdefault(fhir, []).append(str(pm.value))
    return {k: tuple(v) for k, v in out.items()}


def _appointment_actor(param: str, value: str) -> tuple[Field, Op, tuple[Value, ...]]:
    kinds = {item.rpartition("/")[0].rsplit("/", 1)[-1] for item in _split(value)}
    if len(kinds) != 1 or not kinds <= {"Patient", "Practitioner", "Location"}:
        raise bad(param, "actor: give Patient/<id>, Practitioner/<id> or Location/<id>")
    target = {"Patient": Field.PATIENT, "Practitioner": Field.PROVIDER, "Location": Field.LOCATION}
    return reference_reader(target[kinds.pop()])(param, value)


_CLAIM_STATUS = {
    "draft": (ClaimStatus.DRAFT.value,),
    "active": tuple(s.value for s in ClaimStatus if s is not ClaimStatus.DRAFT),
    **{s.value: (s.value,) for s in ClaimStatus},
}
_EOB_STATUS = {
    "active": tuple(s.value for s in ClaimPaymentStatus if s is not ClaimPaymentStatus.REVERSAL),
    "cancelled": (ClaimPaymentStatus.REVERSAL.value,),
}
_SLOT_STATUS = {
    "busy": tuple(
        s.value
        for s in (AppointmentStatus.BOOKED, AppointmentStatus.FULFILLED, AppointmentStatus.NOSHOW)
    ),
    "free": (AppointmentStatus.CANCELLED.value, AppointmentStatus.DELETED.value),
}
_ORG_TYPE = {"prov": ("practice", "facility"), "pay": ("payer",), "other": ("other",)}
_GENDERS = {g: (g,) for g in ("male", "female", "other", "unknown")}
_ACTIVE = {"active": (1,), "cancelled": (0,)}
_CR_STATUS: dict[str, tuple[Value, ...]] = {"active": ()}  # every result is active

PATIENT_REF = reference_reader(Field.PATIENT, "Patient")

PARAMS: dict[str, dict[str, Reader]] = {
    "Patient": {
        "name": string_reader(Field.NAME),
        "family": string_reader(Field.FAMILY),
        "given": string_reader(Field.GIVEN),
        "birthdate": date_reader(Field.BIRTH_DATE),
        "gender": token_reader(Field.GENDER, _GENDERS),
    },
    "Practitioner": {
        "name": string_reader(Field.NAME),
        "family": string_reader(Field.FAMILY),
        "given": string_reader(Field.GIVEN),
    },
    "PractitionerRole": {
        "practitioner": reference_reader(Field.ID, "Practitioner"),
        "organization": reference_reader(Field.ORGANIZATION, "Organization"),
    },
    "Organization": {
        "name": string_reader(Field.NAME),
        "type": token_reader(Field.KIND, _ORG_TYPE),
    },
    "Location": {"name": string_reader(Field.NAME)},
    "Coverage": {
        "patient": PATIENT_REF,
        "beneficiary": PATIENT_REF,
        "payor": reference_reader(Field.PAYER, "Organization"),
        "status": token_reader(Field.STATUS, _ACTIVE),
    },
    "Encounter": {
        "patient": PATIENT_REF,
        "subject": PATIENT_REF,
        "date": date_reader(Field.DATE),
        "status": token_reader(Field.STATUS, _inverse(ENCOUNTER_STATUS)),
        "practitioner": reference_reader(Field.PROVIDER, "Practitioner"),
        "location": reference_reader(Field.LOCATION, "Location"),
    },
    "Appointment": {
        "patient": PATIENT_REF,
        "date": date_reader(Field.DATE),
        "status": token_reader(Field.STATUS, _inverse(APPOINTMENT_STATUS)),
        "actor": _appointment_actor,
        "practitioner": reference_reader(Field.PROVIDER, "Practitioner"),
        "location": reference_reader(Field.LOCATION, "Location"),
    },
    "Schedule": {"actor": reference_reader(Field.ID, "Practitioner")},
    "Slot": {
        "schedule": reference_reader(Field.PROVIDER, "Schedule"),
        "start": date_reader(Field.DATE),
        "status": token_reader(Field.STATUS, _SLOT_STATUS),
    },
    "Claim": {
        "patient": PATIENT_REF,
        "created": date_reader(Field.DATE),
        "status": token_reader(Field.STATUS, _CLAIM_STATUS),
        "insurer": reference_reader(Field.PAYER, "Organization"),
    },
    "ClaimResponse": {
        "patient": PATIENT_REF,
        "created": date_reader(Field.DATE),
        "status": token_reader(Field.ID, _CR_STATUS),
        "request": reference_reader(Field.CLAIM, "Claim"),
    },
    "ExplanationOfBenefit": {
        "patient": PATIENT_REF,
        "created": date_reader(Field.DATE),
        "status": token_reader(Field.STATUS, _EOB_STATUS),
        "claim": reference_reader(Field.CLAIM, "Claim"),
    },
}
COMMON: dict[str, Reader] = {
    "_id": id_reader,
    "_lastUpdated": date_reader(Field.UPDATED),
    "identifier": identifier_reader,
}
# what _sort may name, per parameter (besides _id and _lastUpdated)
SORTABLE = {
    "_id": Field.ID,
    "_lastUpdated": Field.UPDATED,
    "birthdate": Field.BIRTH_DATE,
    "family": Field.FAMILY,
    "given": Field.GIVEN,
    "date": Field.DATE,
    "created": Field.DATE,
    "start": Field.DATE,
    "status": Field.STATUS,
}
CONTROL = {"_format", "_pretty"}  # how the answer is written, not what it holds


@dataclass
class ParsedSearch:
    query: PmQuery
    includes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    used: list[tuple[str, str]] = field(default_factory=list)  # for the self and next links


def whole_number(param: str, value: str, *, low: int, high: int) -> int:
    if not value.isdigit() or len(value) > 9:
        raise bad(param, f"{param} must be a whole number")
    return max(low, min(int(value), high))


def parse(
    type_name: str,
    kind: Kind,
    pairs: Sequence[tuple[str, str]],
    *,
    includes_allowed: Sequence[str],
) -> ParsedSearch:
    readers = {**COMMON, **PARAMS.get(type_name, {})}
    criteria: list[Criterion] = []
    sort: list[Sort] = []
    count, offset, with_total = DEFAULT_COUNT, 0, True
    parsed = ParsedSearch(PmQuery(kind))
    for name, value in pairs:
        if name == "_count":
            count = whole_number(name, value, low=0, high=MAX_COUNT)
        elif name == "_offset":
            offset = whole_number(name, value, low=0, high=10**9)
        elif name == "_total":
            with_total = value != "none"
        elif name == "_summary" and value == "count":
            count, with_total = 0, True  # FHIR search.html#summary: the total only
        elif name == "_sort":
            sort = _sorts(value, type_name)
        elif name == "_include":
            if value not in includes_allowed:
                parsed.ignored.append(f"_include={value[:80]}")
                continue
            parsed.includes.append(value)
        elif name in CONTROL:
            continue
        elif name in readers:
            if value == "":
                continue  # an empty parameter is no criterion (FHIR search.html#errors)
            fld, op, values = readers[name](name, value)
            if values:
                criteria.append(Criterion(fld, op, values))
        else:
            parsed.ignored.append(name[:80])
            continue
        parsed.used.append((name, value))
    if type_name == "Slot":  # an appointment is a slot only with a start and a practitioner
        criteria.append(Criterion(Field.DATE, Op.NE, (None,)))
        criteria.append(Criterion(Field.PROVIDER, Op.NE, (None,)))
    parsed.query = PmQuery(kind, tuple(criteria), tuple(sort), count, offset, with_total)
    return parsed


def _sorts(value: str, type_name: str) -> list[Sort]:
    out = []
    allowed = {**{k: v for k, v in SORTABLE.items() if k in PARAMS.get(type_name, {})}}
    allowed.update(_id=Field.ID, _lastUpdated=Field.UPDATED)
    for item in _split(value)[:4]:
        desc = item.startswith("-")
        key = item.removeprefix("-")
        fld = allowed.get(key)
        if fld is None:
            raise bad("_sort", f"_sort: {key[:40]!r} is not a sort key for {type_name}")
        out.append(Sort(fld, desc))
    return out
