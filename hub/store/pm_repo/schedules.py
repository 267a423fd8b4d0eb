"""Schedule templates and the slots they make (ADR 0028): the handlers of
:class:`~hub.pm.changes.SetScheduleTemplate` and :class:`~hub.pm.changes.RemoveScheduleTemplate`,
the reads a free-slot search needs, and the slot claim a booking makes
(:func:`claim_slot`, called by :func:`hub.store.pm_repo.scheduling.upsert_appointment`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict, MappingError, NotFound, ValidationError
from hub.pm import convert
from hub.pm.changes import RemoveScheduleTemplate, SetScheduleTemplate, SlotClaim
from hub.pm.entities import ScheduleTemplate
from hub.pm.enums import AppointmentStatus
from hub.pm.slots import Busy, FreeSlot, check_rule, expand, free, slot_at
from hub.store.pm_repo.rows import Stamp, write
from hub.store.pm_tables import appointments, locations, providers, schedule_templates

LIVE = (AppointmentStatus.BOOKED.value, AppointmentStatus.FULFILLED.value)
LONGEST_VISIT = timedelta(days=1)  # how far back a live appointment can still overlap a slot
_t = schedule_templates.c
_a = appointments.c


def slot_taken() -> Conflict:
    return Conflict("the slot is already booked", code="slot_taken")


def template_row(conn: Connection, template_id: int) -> Any:
    return conn.execute(sa.select(schedule_templates).where(_t.id == template_id)).first()


def template(conn: Connection, template_id: int) -> ScheduleTemplate | None:
    if not 1 <= template_id < 2**63:
        return None
    row = template_row(conn, template_id)
    return None if row is None else convert.schedule_template(row._mapping)


def templates(
    conn: Connection, provider_ids: Sequence[int] | None = None, *, active_only: bool = True
) -> list[ScheduleTemplate]:
    q = sa.select(schedule_templates).order_by(_t.provider_id, _t.weekday, _t.start_time, _t.id)
    if provider_ids is not None:
        q = q.where(_t.provider_id.in_(list(provider_ids)))
    if active_only:
        q = q.where(_t.active == 1)
    return [convert.schedule_template(r._mapping) for r in conn.execute(q)]


def busy(
    conn: Connection, provider_ids: Sequence[int], start: datetime, end: datetime
) -> list[Busy]:
    """The live appointments of the providers that may overlap [start, end)."""
    q = sa.select(_a.provider_id, _a.start, _a.minutes).where(
        _a.provider_id.in_(list(provider_ids)),
        _a.status.in_(LIVE),
        _a.start >= start - LONGEST_VISIT,
        _a.start < end,
    )
    return [Busy(int(r.provider_id), r.start, r.minutes) for r in conn.execute(q)]


def free_slots(
    conn: Connection, provider_ids: Sequence[int], start: datetime, end: datetime
) -> list[FreeSlot]:
    made = expand(templates(conn, provider_ids), start, end)
    return free(made, busy(conn, provider_ids, start, end)) if made else []


def _exists(conn: Connection, table: sa.Table, row_id: int | None) -> bool:
    if row_id is None:
        return True
    return conn.execute(sa.select(table.c.id).where(table.c.id == row_id)).first() is not None


def set_template(conn: Connection, ch: SetScheduleTemplate, stamp: Stamp) -> int:
    check_rule(
        ch.weekday,
        ch.start_time,
        ch.end_time,
        ch.slot_minutes,
        ch.timezone,
        ch.valid_from,
        ch.valid_to,
    )
    if not _exists(conn, providers, ch.provider_id):
        raise ValidationError(f"provider {ch.provider_id} is not known", code="unknown_key")
    if not _exists(conn, locations, ch.location_id):
        raise ValidationError(f"location {ch.location_id} is not known", code="unknown_key")
    old = None
    if ch.template_id is not None:
        old = template_row(conn, ch.template_id)
        if old is None:
            raise NotFound(f"schedule template {ch.template_id} not found", code="not_found")
    values: dict[str, Any] = {
        "provider_id": ch.provider_id,
        "location_id": ch.location_id,
        "weekday": ch.weekday,
        "start_time": ch.start_time.strftime("%H:%M"),
        "end_time": ch.end_time.strftime("%H:%M"),
        "slot_minutes": ch.slot_minutes,
        "timezone": ch.timezone,
        "valid_from": ch.valid_from,
        "valid_to": ch.valid_to,
        "active": 1,
    }
    return write(conn, schedule_templates, None if old is None else old._mapping, values, stamp)


def remove_template(conn: Connection, ch: RemoveScheduleTemplate, stamp: Stamp) -> int:
    old = template_row(conn, ch.template_id) if 1 <= ch.template_id < 2**63 else None
    if old is None:
        raise NotFound(f"schedule template {ch.template_id} not found", code="not_found")
    return write(conn, schedule_templates, old._mapping, {"active": 0}, stamp)


def claim_slot(
    conn: Connection, claim: SlotClaim, values: dict[str, Any], own: int | None
) -> FreeSlot | None:
    """Fill ``values`` (an appointment's columns) from the slot it books. A busy slot's id is
    its appointment's: naming one's own is no claim (an update echoing its read-back), any
    other live one is taken. Returns the template slot claimed, None for one's own."""
    if claim.appointment_id is not None:
        if claim.appointment_id == own:
            return None
        row = conn.execute(sa.select(_a.status).where(_a.id == claim.appointment_id)).first()
        if row is not None and row.status in LIVE:
            raise slot_taken()
        raise MappingError("the slot is not a free slot of a schedule", code="slot_unknown")
    found = template(conn, claim.template_id or 0)
    slot = None if found is None or claim.start is None else slot_at(found, claim.start)
    if found is None or slot is None:
        raise MappingError("no schedule template makes this slot", code="slot_unknown")
    _agree(values, "provider_id", slot.provider_id, "the practitioner is not the slot's")
    _agree(values, "start", slot.start, "the start is not the slot's")
    values.update(provider_id=slot.provider_id, start=slot.start, slot_template_id=found.id)
    if values.get("minutes") is None:
        values["minutes"] = found.slot_minutes
    if slot.location_id is not None:
        _agree(values, "location_id", slot.location_id, "the location is not the slot's")
        values["location_id"] = slot.location_id
    return slot


def _agree(values: Mapping[str, Any], column: str, wanted: object, text: str) -> None:
    given = values.get(column)
    if given is not None and given != wanted:
        raise MappingError(text, code="slot_mismatch")


def check_free(
    conn: Connection, provider_id: int, start: datetime, end: datetime, own: int | None
) -> None:
    """Refuse (``slot_taken``) when another live appointment of the provider starts at
    ``start`` or, for a span, overlaps [start, end)."""
    q = sa.select(_a.id, _a.start, _a.minutes).where(
        _a.provider_id == provider_id,
        _a.status.in_(LIVE),
        _a.start >= start - LONGEST_VISIT,
        _a.start <= start if end <= start else _a.start < end,
    )
    if own is not None:
        q = q.where(_a.id != own)
    for row in conn.execute(q):
        other = Busy(provider_id, row.start, row.minutes)
        if other.start == start or (end > start and other.end > start and other.start < end):
            raise slot_taken()
