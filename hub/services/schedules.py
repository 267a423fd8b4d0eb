"""Admin use case: the schedule templates online booking computes free slots from (ADR 0028).

Reached from ``hub schedule set|list|remove``. Each change is one transaction: the template
written through the PM repository (a version and a history row naming the actor) and its audit
event.
"""

from __future__ import annotations

from hub.clock import Clock
from hub.pm.changes import RemoveScheduleTemplate, SetScheduleTemplate
from hub.pm.entities import ScheduleTemplate
from hub.store import audit
from hub.store.db import UnitOfWorkFactory
from hub.store.pm_repo import SqlPm, Stamp, schedules


class ScheduleService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def set(self, change: SetScheduleTemplate, *, actor: str) -> int:
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
                detail={"provider_id": change.provider_id, "weekday": change.weekday},
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
