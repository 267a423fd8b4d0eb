"""Domain events: facts about PM changes that other systems may need to hear about.

Pure dataclasses (no database, no protocol). A PM change emits its event into the ``outbox``
table in the *same* transaction (:func:`hub.store.outbox.emit`), so the event exists if and only
if the change committed; subscribers (SIU forwarding today; FHIR subscriptions and 837P batches
next) turn events into deliveries later (docs/adr/0008).

An event names what changed by id and where the change came from (``origin``: the channel, e.g.
an EHR's facility, whose own destination is not told; ``None`` when the PM itself changed it).
It carries no patient data: subscribers read the current PM state when they build.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hub.errors import ValidationError
from hub.pm.entities import Appointment
from hub.pm.enums import AppointmentStatus


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Base of every event; subclasses are stored by class name (:data:`EVENT_TYPES`)."""


@dataclass(frozen=True, slots=True)
class AppointmentEvent(DomainEvent):
    appointment_id: int
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class AppointmentBooked(AppointmentEvent):
    pass


@dataclass(frozen=True, slots=True)
class AppointmentRescheduled(AppointmentEvent):
    pass


@dataclass(frozen=True, slots=True)
class AppointmentCancelled(AppointmentEvent):
    pass


@dataclass(frozen=True, slots=True)
class PmEntityChanged(DomainEvent):
    """A PM row changed (any channel): ``entity_type`` is its table as in ``pm_history``
    (``patients``), ``version`` the version it reached. Emitted by the FHIR subscription
    matcher only for types some subscription watches (hub.services.fhir_subscriptions)."""

    entity_type: str
    entity_id: int
    version: int


# Stored name -> type. New events are added here (their names are stored: never rename one).
EVENT_TYPES: dict[str, type[DomainEvent]] = {
    t.__name__: t
    for t in (
        AppointmentBooked,
        AppointmentRescheduled,
        AppointmentCancelled,
        PmEntityChanged,
    )
}


_GONE = (AppointmentStatus.CANCELLED, AppointmentStatus.DELETED)
# What moves an appointment for the people expecting the patient (SIU S13/S14's content).
_SCHEDULE = ("start", "minutes", "patient_id", "provider_id", "location_id", "type", "reason")


def appointment_event(
    before: Appointment | None, after: Appointment
) -> type[AppointmentEvent] | None:
    """The event a state change of one appointment announces, for channels that send the new
    state rather than a trigger (FHIR, the PM's own writes): new and live is booked, live to
    cancelled or deleted is cancelled, back to booked from cancelled is booked again, a change
    of time, length, people, place, type or reason is rescheduled. A no-show, a fulfilment and
    a write that changed nothing announce nothing (HL7 v2 does not forward S26 either)."""
    if before is None:
        return None if after.status in _GONE else AppointmentBooked
    if after.meta.version == before.meta.version:
        return None
    if after.status in _GONE:
        return None if before.status in _GONE else AppointmentCancelled
    if before.status in _GONE and after.status is AppointmentStatus.BOOKED:
        return AppointmentBooked
    if after.status is not AppointmentStatus.BOOKED:
        return None
    moved = any(getattr(before, name) != getattr(after, name) for name in _SCHEDULE)
    return AppointmentRescheduled if moved else None


def event_name(event: DomainEvent) -> str:
    return type(event).__name__


def to_payload(event: DomainEvent) -> dict[str, Any]:
    return asdict(event)


def from_payload(name: str, payload: dict[str, Any]) -> DomainEvent:
    kind = EVENT_TYPES.get(name)
    if kind is None:
        raise ValidationError(f"unknown domain event {name!r}", code="unknown_event")
    try:
        return kind(**payload)
    except TypeError:
        raise ValidationError(f"malformed {name} payload", code="bad_event") from None
