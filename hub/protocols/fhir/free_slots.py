"""``GET /fhir/Slot?schedule=…&status=free&start=ge…&start=lt…`` (ADR 0028): free slots computed
from the practitioners' schedule templates minus their live appointments, never stored.

The search must name the schedule(s) and bound ``start`` on both sides, at most 31 days apart
(else 400: the range is what bounds the work). ``_count``, ``_offset`` and ``_total`` page as
every other search does (the same ``self``/``next``/``previous`` links); unknown parameters are
reported in the outcome entry, or refused under ``Prefer: handling=strict``. A free slot's id
(``t<template>-<UTC start>``) is also readable (``GET /fhir/Slot/<id>``) while it is free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.errors import FhirLocation, NotFound, UnsupportedError
from hub.mappings.pm_fhir.visits import free_slot
from hub.pm.queries import Kind, PmQuery
from hub.pm.slots import MAX_WINDOW, YEARS, parse_slot_id
from hub.protocols.fhir import search_params
from hub.protocols.fhir.search_params import DEFAULT_COUNT, MAX_COUNT, bad, date_range
from hub.services.pm_reads import PmReadService

Resource = dict[str, Any]
MAX_SCHEDULES = 20
_LOWER = ("ge", "gt", "eq")
_UPPER = ("lt", "le", "eq")


@dataclass
class FreeSearch:
    providers: list[int] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    count: int = DEFAULT_COUNT
    offset: int = 0
    with_total: bool = True
    used: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def wants_free(params: Sequence[tuple[str, str]]) -> bool:
    """Whether a Slot search asks for free slots; free and busy at once is refused (they come
    from different places: templates and appointments)."""
    codes = {
        item.rpartition("|")[2]
        for name, value in params
        if name == "status"
        for item in value.split(",")
    }
    if "free" in codes and codes - {"free"}:
        raise bad("status", "status: search free slots apart from busy ones")
    return "free" in codes


def _schedules(value: str, into: list[int]) -> None:
    for item in value.split(","):
        kind, _, ident = item.rpartition("/")
        if kind.rsplit("/", 1)[-1] not in ("", "Schedule"):
            raise bad("schedule", "schedule refers to Schedule/<id>")
        if not ident.isdigit() or len(ident) > 18:
            raise bad("schedule", "schedule: not a Schedule id of this server")
        into.append(int(ident))
    if len(into) > MAX_SCHEDULES:
        raise bad("schedule", f"schedule: at most {MAX_SCHEDULES} schedules")


def _bound(found: FreeSearch, value: str) -> None:
    prefix, rest = value[:2], value[2:]
    if prefix not in _PREFIXES:
        prefix, rest = "eq", value
    if prefix not in _LOWER + _UPPER:
        raise bad("start", f"start: the prefix {prefix!r} is not supported for free slots")
    span = date_range(rest, "start")
    if prefix in _LOWER:
        low = span.start if prefix != "gt" else span.end
        found.start = low if found.start is None else max(found.start, low)
    if prefix in _UPPER:
        high = span.end if prefix != "lt" else span.start
        found.end = high if found.end is None else min(found.end, high)


_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap")


def parse(params: Sequence[tuple[str, str]]) -> FreeSearch:
    found = FreeSearch()
    for name, value in params:
        if name == "schedule":
            _schedules(value, found.providers)
        elif name == "start":
            _bound(found, value)
        elif name == "status":
            pass  # free (checked by wants_free)
        elif name == "_count":
            found.count = search_params.whole_number(name, value, low=0, high=MAX_COUNT)
        elif name == "_offset":
            found.offset = search_params.whole_number(name, value, low=0, high=10**9)
        elif name == "_total":
            found.with_total = value != "none"
        elif name in search_params.CONTROL:
            continue
        else:
            found.ignored.append(name[:80])
            continue
        found.used.append((name, value))
    if not found.providers:
        raise bad("schedule", "a free-slot search needs schedule=Schedule/<id>")
    if found.start is None or found.end is None:
        raise bad("start", "a free-slot search needs start=ge<date> and start=lt<date>")
    if found.start.year < YEARS[0] or found.end.year > YEARS[1]:
        raise bad("start", f"start: free slots exist from {YEARS[0]} to {YEARS[1]}")
    if found.end - found.start > MAX_WINDOW:
        raise bad("start", "the start range of a free-slot search is at most 31 days")
    return found


def search(
    service: PmReadService, params: Sequence[tuple[str, str]], *, strict: bool
) -> tuple[search_params.ParsedSearch, int, list[Resource]]:
    """(the search as parsed, for the Bundle's links; the total; this page's Slots)."""
    wanted = parse(params)
    if wanted.ignored and strict:
        raise UnsupportedError(
            f"unsupported search parameter {wanted.ignored[0]!r} (Prefer: handling=strict)",
            code="unsupported_parameter",
            location=FhirLocation(wanted.ignored[0]),
        )
    assert wanted.start is not None and wanted.end is not None
    slots = []
    if wanted.end > wanted.start:
        slots = service.free_slots(sorted(set(wanted.providers)), wanted.start, wanted.end)
    page = slots[wanted.offset : wanted.offset + wanted.count]
    query = PmQuery(
        Kind.APPOINTMENT, count=wanted.count, offset=wanted.offset, with_total=wanted.with_total
    )
    parsed = search_params.ParsedSearch(query, ignored=wanted.ignored, used=wanted.used)
    return parsed, len(slots), [free_slot(s) for s in page]


def read(service: PmReadService, ident: str) -> Resource:
    """A free slot by its id, while it is free (a booked or unknown one: 404)."""
    parsed = parse_slot_id(ident)
    slot = None if parsed is None else service.free_slot(*parsed)
    if slot is None:
        raise NotFound(f"Slot/{ident[:64]} is not known or no longer free", code="not_found")
    return free_slot(slot)


def is_free_id(ident: str) -> bool:
    return ident.startswith("t") and parse_slot_id(ident) is not None
