"""Audited reads of the PM model: every read of a PM row, its versions or a search writes its
audit event in the same transaction (``phi.view`` for one row, ``phi.search`` for a search,
with the kind, the criteria's field names and the number of results; never the values asked
for). Protocols that serve the PM back (FHIR) read only through here (DESIGN.md section 2:
reads that show PHI go through audited read services)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from hub.clock import Clock
from hub.pm.entities import ScheduleTemplate
from hub.pm.history import HistoryEntry
from hub.pm.queries import Kind, PmQuery
from hub.pm.slots import FreeSlot, slot_at
from hub.services.reads import Actor
from hub.store import audit, pm_read
from hub.store.db import UnitOfWorkFactory
from hub.store.pm_repo import schedules


@dataclass(frozen=True, slots=True)
class Page:
    total: int | None
    items: list[Any]


class PmReadService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def _audit(  # noqa: PLR0917
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        kind: Kind,
        object_id: str | int,
        detail: dict[str, Any],
    ) -> None:
        audit.append(
            conn,
            at=self.clock.now(),
            actor=str(actor),
            action=action,
            object_type=kind.value,
            object_id=object_id,
            detail={"via": actor.via, **detail},
        )

    def get(self, kind: Kind, entity_id: int, actor: Actor) -> Any | None:
        with self.uow() as u:
            found = pm_read.get(u.conn, kind, entity_id)
            if found is not None:
                self._audit(u.conn, actor, "phi.view", kind, entity_id, {})
                u.commit()
        return found

    def version(self, kind: Kind, entity_id: int, version: int, actor: Actor) -> Any | None:
        with self.uow() as u:
            found = pm_read.at_version(u.conn, kind, entity_id, version)
            if found is not None:
                self._audit(u.conn, actor, "phi.view", kind, entity_id, {"version": version})
                u.commit()
        return found

    def exists(self, kind: Kind, entity_id: int) -> bool:
        """Whether the row is there (no content read: not a PHI view)."""
        with self.uow() as u:
            return bool(pm_read.exists(u.conn, kind, entity_id))

    def history(self, kind: Kind, entity_id: int, actor: Actor) -> list[tuple[HistoryEntry, Any]]:
        with self.uow() as u:
            found = pm_read.history(u.conn, kind, entity_id)
            if found:
                self._audit(u.conn, actor, "phi.view", kind, entity_id, {"history": len(found)})
                u.commit()
        return found

    def type_history(
        self, kind: Kind, actor: Actor, *, since: datetime | None, count: int
    ) -> list[tuple[HistoryEntry, Any]]:
        with self.uow() as u:
            found = pm_read.type_history(u.conn, kind, since=since, count=count)
            self._audit(u.conn, actor, "phi.search", kind, "", {"history": len(found)})
            u.commit()
        return found

    def search(
        self, query: PmQuery, actor: Actor, *, include: Sequence[tuple[Kind, Sequence[int]]] = ()
    ) -> tuple[Page, list[tuple[Kind, Any]]]:
        """A page of ``query``'s results and the rows ``include`` names (``_include``)."""
        with self.uow() as u:
            total, items = pm_read.search(u.conn, query)
            extra: list[tuple[Kind, Any]] = []
            for kind, ids in include:
                extra.extend((kind, row) for row in pm_read.get_many(u.conn, kind, ids))
            fields = sorted({c.field.value for c in query.criteria})
            self._audit(
                u.conn,
                actor,
                "phi.search",
                query.kind,
                "",
                {"fields": fields, "results": len(items), "included": len(extra)},
            )
            u.commit()
        return Page(total, items), extra

    def many(self, kind: Kind, ids: Sequence[int], actor: Actor) -> list[Any]:
        """Rows by id (``_include`` of a search's page), one audit event for them all."""
        if not ids:
            return []
        with self.uow() as u:
            found = pm_read.get_many(u.conn, kind, ids)
            self._audit(u.conn, actor, "phi.view", kind, "", {"ids": len(found)})
            u.commit()
        return found

    def free_slots(
        self, provider_ids: Sequence[int], start: datetime, end: datetime
    ) -> list[FreeSlot]:
        """The providers' free slots starting in [start, end) (ADR 0028): times of their
        schedule templates, no patient in them, so no PHI view is audited."""
        with self.uow() as u:
            return schedules.free_slots(u.conn, provider_ids, start, end)

    def free_slot(self, template_id: int, start: datetime) -> FreeSlot | None:
        """The template's slot at ``start`` when it exists and is free."""
        with self.uow() as u:
            template = schedules.template(u.conn, template_id)
            slot = None if template is None else slot_at(template, start)
            if slot is None:
                return None
            found = schedules.free_slots(u.conn, [slot.provider_id], slot.start, slot.end)
        return slot if slot in found else None

    def templates_of(self, provider_ids: Sequence[int]) -> list[ScheduleTemplate]:
        with self.uow() as u:
            return schedules.templates(u.conn, provider_ids)
