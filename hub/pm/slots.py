"""Free slots computed from schedule templates (ADR 0028): pure, no I/O, no clock.

A template (:class:`~hub.pm.entities.ScheduleTemplate`) repeats every week on its weekday, from
its local start to its local end time in its IANA time zone, cut into slots of its length. A
slot is the instant its local start stands for on that date, so a practice's 09:00 stays 09:00
across a daylight-saving change. On the changeover day:

* a local start that does not exist (the hour the clocks skip in spring) gives no slot;
* a local start that happens twice (the hour repeated in autumn) gives one slot, the first
  (``fold=0``, PEP 495).

A slot is free when no live appointment of the same provider overlaps it. Its id names the
template and its UTC start (``t<template id>-<YYYYMMDD>T<HHMM>Z``), so reading the same slot twice
gives the same id, a client can book it by that id, and nothing is stored until it is booked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.errors import ValidationError
from hub.pm.entities import ScheduleTemplate

MAX_WINDOW = timedelta(days=31)  # the longest range one free-slot search may expand
YEARS = (1900, 2200)  # slots exist within these years only (no date arithmetic at the edges)
MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 24 * 60
_ID = re.compile(r"t(?P<template>[1-9]\d{0,17})-(?P<when>\d{8}T\d{4})Z")


@dataclass(frozen=True, slots=True, order=True)
class FreeSlot:
    start: datetime  # UTC
    end: datetime  # UTC
    template_id: int
    provider_id: int
    location_id: int | None = None

    @property
    def id(self) -> str:
        return slot_id(self.template_id, self.start)


@dataclass(frozen=True, slots=True)
class Busy:
    """A live appointment's time: ``minutes`` None or 0 is an instant (it still takes the slot
    it falls in)."""

    provider_id: int
    start: datetime
    minutes: int | None = None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes or 0)


def slot_id(template_id: int, start: datetime) -> str:
    return f"t{template_id}-{start.astimezone(UTC):%Y%m%dT%H%M}Z"


def parse_slot_id(text: str) -> tuple[int, datetime] | None:
    """(template id, UTC start) of a free slot's id; None when ``text`` is not one."""
    m = _ID.fullmatch(text)
    if m is None:
        return None
    try:
        when = datetime.strptime(m["when"], "%Y%m%dT%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(m["template"]), when


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, refused (``invalid_timezone``) when unknown or malformed."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            f"{name[:60]!r} is not a known IANA time zone", code="invalid_timezone"
        ) from None


def check_rule(  # noqa: PLR0917
    weekday: int,
    start: time,
    end: time,
    minutes: int,
    timezone: str,
    valid_from: date | None,
    valid_to: date | None,
) -> None:
    """What a template must be before it is stored (``invalid_template`` otherwise)."""
    zone(timezone)
    if not 0 <= weekday <= 6:
        raise ValidationError("weekday must be 0 (Monday) to 6 (Sunday)", code="invalid_template")
    if not MIN_SLOT_MINUTES <= minutes <= MAX_SLOT_MINUTES:
        raise ValidationError(
            f"slot length must be {MIN_SLOT_MINUTES} to {MAX_SLOT_MINUTES} minutes",
            code="invalid_template",
        )
    if _minutes(end) - _minutes(start) < minutes:
        raise ValidationError(
            "the end must be at least one slot after the start", code="invalid_template"
        )
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        raise ValidationError("valid-to is before valid-from", code="invalid_template")


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _valid_on(template: ScheduleTemplate, day: date) -> bool:
    if day.weekday() != template.weekday:
        return False
    if template.valid_from is not None and day < template.valid_from:
        return False
    return template.valid_to is None or day <= template.valid_to


def _starts_on(template: ScheduleTemplate, day: date, tz: ZoneInfo) -> Iterator[datetime]:
    """The UTC starts of the template's slots on local date ``day``."""
    step = template.slot_minutes
    first, last = _minutes(template.start_time), _minutes(template.end_time)
    for offset in range(first, last - step + 1, step):
        local = datetime.combine(day, time(offset // 60, offset % 60), tzinfo=tz)
        utc = local.astimezone(UTC)
        if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
            continue  # a local time the clocks skip (spring forward): no such instant
        yield utc


def expand(templates: Iterable[ScheduleTemplate], start: datetime, end: datetime) -> list[FreeSlot]:
    """Every slot of the active ``templates`` that starts in [start, end), in time order; one
    slot per provider and start (the lowest template id wins when two templates overlap)."""
    if end - start > MAX_WINDOW:
        raise ValidationError("the range is longer than 31 days", code="window_too_long")
    if start.year < YEARS[0] or end.year > YEARS[1]:
        return []
    found: dict[tuple[int, datetime], FreeSlot] = {}
    for template in sorted(templates, key=lambda t: t.id):
        if not template.active:
            continue
        tz = zone(template.timezone)
        # local dates that can hold an instant of the range, whatever the zone's offset
        day, last = (start - timedelta(days=1)).date(), (end + timedelta(days=1)).date()
        while day <= last:
            if _valid_on(template, day):
                for utc in _starts_on(template, day, tz):
                    if start <= utc < end:
                        slot = FreeSlot(
                            utc,
                            utc + timedelta(minutes=template.slot_minutes),
                            template.id,
                            template.provider_id,
                            template.location_id,
                        )
                        found.setdefault((template.provider_id, utc), slot)
            day += timedelta(days=1)
    return sorted(found.values())


def free(slots: Iterable[FreeSlot], busy: Iterable[Busy]) -> list[FreeSlot]:
    """The slots no live appointment of the same provider overlaps."""
    taken: dict[int, list[Busy]] = {}
    for b in busy:
        taken.setdefault(b.provider_id, []).append(b)
    return [s for s in slots if not any(_overlaps(s, b) for b in taken.get(s.provider_id, ()))]


def _overlaps(slot: FreeSlot, busy: Busy) -> bool:
    if busy.end <= busy.start:  # an instant
        return slot.start <= busy.start < slot.end
    return busy.start < slot.end and slot.start < busy.end


def slot_at(template: ScheduleTemplate, start: datetime) -> FreeSlot | None:
    """The template's slot that starts at ``start`` (UTC), or None when the template makes no
    slot then (wrong weekday, off its grid, outside its dates, or removed)."""
    if not YEARS[0] <= start.year <= YEARS[1]:
        return None
    found = expand([template], start, start + timedelta(minutes=1))
    return found[0] if found and found[0].start == start else None
