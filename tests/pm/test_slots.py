"""Free slots from schedule templates (ADR 0028), pure: the weekly grid in its time zone,
daylight-saving change days, overlapping templates and appointments, the 31-day cap and the
slot ids a client books by."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.errors import ValidationError
from hub.pm.entities import ScheduleTemplate, Versioned
from hub.pm.slots import (
    Busy,
    check_rule,
    expand,
    free,
    parse_slot_id,
    slot_at,
    slot_id,
)

NY = "America/New_York"


def template(
    tid: int = 1,
    *,
    provider: int = 7,
    weekday: int = 6,
    start: str = "00:30",
    end: str = "04:00",
    minutes: int = 30,
    tz: str = NY,
    valid_from: date | None = None,
    valid_to: date | None = None,
    active: bool = True,
) -> ScheduleTemplate:
    return ScheduleTemplate(
        Versioned(tid),
        provider,
        weekday,
        time.fromisoformat(start),
        time.fromisoformat(end),
        minutes,
        tz,
        location_id=3,
        valid_from=valid_from,
        valid_to=valid_to,
        active=active,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def starts(slots: list[object]) -> list[str]:
    return [f"{s.start:%Y-%m-%d %H:%M}" for s in slots]  # type: ignore[attr-defined]


def test_a_weekday_template_gives_its_slots_in_utc() -> None:
    monday = template(weekday=0, start="09:00", end="10:30", minutes=30)
    got = expand([monday], utc("2026-12-07T00:00"), utc("2026-12-08T00:00"))
    # New York is UTC-5 in December
    assert starts(got) == ["2026-12-07 14:00", "2026-12-07 14:30", "2026-12-07 15:00"]
    assert got[0].end == utc("2026-12-07T14:30")
    assert (got[0].provider_id, got[0].location_id, got[0].template_id) == (7, 3, 1)


def test_spring_forward_skips_the_local_times_that_do_not_exist() -> None:
    # 2027-03-14 (a Sunday): New York clocks jump from 02:00 to 03:00
    got = expand([template()], utc("2027-03-14T00:00"), utc("2027-03-15T00:00"))
    local = [s.start.astimezone(ZoneInfo(NY)) for s in got]
    assert [f"{t:%H:%M}" for t in local] == ["00:30", "01:00", "01:30", "03:00", "03:30"]
    assert len({s.start for s in got}) == len(got)


def test_fall_back_gives_a_repeated_local_time_once() -> None:
    # 2026-11-01 (a Sunday): 01:00-02:00 happens twice in New York; one slot per local start
    got = expand([template()], utc("2026-11-01T00:00"), utc("2026-11-02T00:00"))
    assert starts(got) == [
        "2026-11-01 04:30",  # 00:30 EDT
        "2026-11-01 05:00",  # 01:00 EDT (the first 01:00)
        "2026-11-01 05:30",  # 01:30 EDT
        "2026-11-01 07:00",  # 02:00 EST
        "2026-11-01 07:30",
        "2026-11-01 08:00",
        "2026-11-01 08:30",  # 03:30 EST
    ]


def test_a_slot_keeps_its_local_time_across_the_change() -> None:
    nine = template(weekday=0, start="09:00", end="09:30")
    got = expand([nine], utc("2027-03-08T00:00"), utc("2027-03-16T00:00"))
    assert starts(got) == ["2027-03-08 14:00", "2027-03-15 13:00"]  # EST, then EDT


def test_validity_dates_bound_the_weeks() -> None:
    monday = template(
        weekday=0,
        start="09:00",
        end="09:30",
        valid_from=date(2026, 12, 14),
        valid_to=date(2026, 12, 21),
    )
    got = expand([monday], utc("2026-12-01T00:00"), utc("2026-12-31T00:00"))
    assert starts(got) == ["2026-12-14 14:00", "2026-12-21 14:00"]


def test_a_removed_template_makes_no_slots() -> None:
    got = expand([template(active=False)], utc("2026-12-01T00:00"), utc("2026-12-31T00:00"))
    assert got == []


def test_overlapping_templates_give_one_slot_per_start() -> None:
    a = template(1, weekday=0, start="09:00", end="10:00", minutes=30)
    b = template(2, weekday=0, start="09:30", end="10:30", minutes=30)
    got = expand([b, a], utc("2026-12-07T00:00"), utc("2026-12-08T00:00"))
    assert [(f"{s.start:%H:%M}", s.template_id) for s in got] == [
        ("14:00", 1),
        ("14:30", 1),
        ("15:00", 2),
    ]


def test_live_appointments_take_the_slots_they_overlap() -> None:
    monday = template(weekday=0, start="09:00", end="11:00", minutes=30)
    made = expand([monday], utc("2026-12-07T00:00"), utc("2026-12-08T00:00"))
    busy = [
        Busy(7, utc("2026-12-07T14:00"), 30),  # exactly the first slot
        Busy(7, utc("2026-12-07T14:40"), 30),  # across the second and third
        Busy(7, utc("2026-12-07T15:45"), None),  # an instant inside the last
        Busy(8, utc("2026-12-07T14:00"), 240),  # another provider's: no effect
    ]
    assert starts(free(made, busy)) == []
    assert starts(free(made, busy[:1])) == [
        "2026-12-07 14:30",
        "2026-12-07 15:00",
        "2026-12-07 15:30",
    ]
    # an appointment ending where a slot starts leaves it free
    assert "2026-12-07 14:30" in starts(free(made, [Busy(7, utc("2026-12-07T14:00"), 30)]))


def test_the_window_is_capped_at_31_days() -> None:
    start = utc("2026-12-01T00:00")
    assert expand([template()], start, start + timedelta(days=31))  # 31 days is allowed
    with pytest.raises(ValidationError) as err:
        expand([template()], start, start + timedelta(days=31, seconds=1))
    assert err.value.code == "window_too_long"


def test_slot_ids_round_trip_and_refuse_what_is_not_one() -> None:
    when = utc("2026-12-07T14:30")
    assert slot_id(12, when) == "t12-20261207T1430Z"
    assert parse_slot_id("t12-20261207T1430Z") == (12, when)
    for bad in (
        "12",
        "t0-20261207T1430Z",
        "t12-20261307T1430Z",  # month 13
        "t12-20261207T2460Z",
        "t12-20261207T1430",
        "t-20261207T1430Z",
        "t12-20261207T1430Z ",
        "t" + "9" * 19 + "-20261207T1430Z",
        "",
    ):
        assert parse_slot_id(bad) is None, bad


def test_slot_at_finds_only_slots_on_the_grid() -> None:
    monday = template(weekday=0, start="09:00", end="10:00", minutes=30)
    assert slot_at(monday, utc("2026-12-07T14:30")) is not None
    assert slot_at(monday, utc("2026-12-07T14:15")) is None  # off the grid
    assert slot_at(monday, utc("2026-12-07T15:00")) is None  # the end is not a start
    assert slot_at(monday, utc("2026-12-08T14:30")) is None  # a Tuesday
    assert slot_at(template(active=False), utc("2026-11-01T04:30")) is None


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ((7, time(9), time(10), 30, NY, None, None), "invalid_template"),  # weekday 7
        ((0, time(9), time(9, 20), 30, NY, None, None), "invalid_template"),  # shorter than a slot
        ((0, time(9), time(10), 2, NY, None, None), "invalid_template"),  # 2-minute slots
        ((0, time(9), time(10), 30, "Mars/Olympus", None, None), "invalid_timezone"),
        ((0, time(9), time(10), 30, "../../etc/passwd", None, None), "invalid_timezone"),
        ((0, time(9), time(10), 30, NY, date(2027, 1, 2), date(2027, 1, 1)), "invalid_template"),
    ],
)
def test_bad_templates_are_refused(args: tuple[object, ...], code: str) -> None:
    with pytest.raises(ValidationError) as err:
        check_rule(*args)  # type: ignore[arg-type]
    assert err.value.code == code


def test_the_far_past_and_future_make_no_slots_and_no_overflow() -> None:
    far = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    assert expand([template(weekday=far.weekday())], far, far + timedelta(minutes=59)) == []
    assert slot_at(template(), datetime(1, 1, 1, tzinfo=UTC)) is None
    assert slot_at(template(), far) is None
    assert slot_at(template(), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)) is None
