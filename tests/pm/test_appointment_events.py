"""The pure rule that turns one appointment's before and after state into the event a channel
without SIU triggers (FHIR, the PM's own writes) announces."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from hub.pm.entities import Appointment, Versioned
from hub.pm.enums import AppointmentStatus as S
from hub.pm.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentEvent,
    AppointmentRescheduled,
    appointment_event,
)

START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
BASE = Appointment(Versioned(7, 1), "urn:ehr", "F1", S.BOOKED, patient_id=3, start=START)


def after(version: int = 2, **changes: object) -> Appointment:
    return replace(BASE, meta=Versioned(7, version), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        (None, BASE, AppointmentBooked),
        (None, replace(BASE, status=S.CANCELLED), None),
        (BASE, after(version=1), None),  # nothing was written
        (BASE, after(), None),  # a new version that moved nothing the receivers show
        (BASE, after(start=START.replace(hour=11)), AppointmentRescheduled),
        (BASE, after(minutes=45), AppointmentRescheduled),
        (BASE, after(provider_id=9), AppointmentRescheduled),
        (BASE, after(reason="follow-up"), AppointmentRescheduled),
        (BASE, after(status=S.CANCELLED), AppointmentCancelled),
        (BASE, after(status=S.DELETED), AppointmentCancelled),
        (replace(BASE, status=S.CANCELLED), after(status=S.DELETED), None),
        (replace(BASE, status=S.CANCELLED), after(), AppointmentBooked),
        (BASE, after(status=S.NOSHOW), None),
        (BASE, after(status=S.FULFILLED, start=START.replace(hour=10)), None),
    ],
)
def test_the_event_an_appointment_change_announces(
    before: Appointment | None, now: Appointment, expected: type[AppointmentEvent] | None
) -> None:
    assert appointment_event(before, now) is expected
