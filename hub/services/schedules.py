"""Admin use case: the schedule templates online booking computes free slots from (ADR 0028).

Reached from ``hub schedule set|list|remove``. Each change is one transaction: the template
written through the PM repository (a version and a history row naming the actor) and its audit
event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from hub.clock import Clock
from hub.pm.changes import RemoveScheduleTemplate, SetScheduleTemplate
from hub.pm.entities import ScheduleTemplate
from hub.store import audit
from hub.store.db import UnitOfWorkFactory
from hub.store.pm_repo import SqlPm, Stamp, schedules


@dataclass(frozen=True, slots=True)
class TemplateRequest:
    provider_id: int
    weekday: int  # 0 Monday .. 6 Sunday
    start_time: time
    end_time: time
    slot_minutes: int
    timezone: str
    location_id: int | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    template_id: int | None = None  # replace this template instead of adding one


class ScheduleService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def set(self, request: TemplateRequest, *, actor: str) -> int:
        change = SetScheduleTemplate(
            request.provider_id,
            request.weekday,
            request.start_time,
            request.end_time,
            request.slot_minutes,
            request.timezone,
            request.location_id,
            request.valid_from,
            request.valid_to,
            request.template_id,
        )
        now = self.clock.now()
        with self.uow() as uow:
            template_id = SqlPm(uow.conn, Stamp(None, now, actor)).apply(change)
            assert template_id is not None
            audit.append(
                uow.conn,
                at=now,
                actor=actor,
                action="schedule.set",
                object_type="schedule_template",
                object_id=template_id,
                detail={"provider_id": request.provider_id, "weekday": request.weekday},
            )
            uow.commit()
        return template_id

    def list(
        self, provider_id: int | None = None, *, include_removed: bool = False
    ) -> list[ScheduleTemplate]:
        with self.uow() as uow:
            return schedules.templates(
                uow.conn,
                None if provider_id is None else [provider_id],
                active_only=not include_removed,
            )

    def remove(self, template_id: int, *, actor: str, reason: str = "") -> None:
        now = self.clock.now()
        with self.uow() as uow:
            SqlPm(uow.conn, Stamp(None, now, actor)).apply(RemoveScheduleTemplate(template_id))
            audit.append(
                uow.conn,
                at=now,
                actor=actor,
                action="schedule.removed",
                object_type="schedule_template",
                object_id=template_id,
                detail={"reason": reason[:1000]},
            )
            uow.commit()
