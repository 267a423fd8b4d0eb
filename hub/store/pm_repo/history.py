"""Reading :data:`hub.store.pm_tables.pm_history`: an entity's versions, a message's changes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm.history import HistoryEntry
from hub.store.pm_tables import pm_history

_h = pm_history.c


def _entry(r: Any) -> HistoryEntry:
    return HistoryEntry(
        r.entity_type,
        int(r.entity_id),
        int(r.version),
        r.changed_at,
        dict(r.changes),
        r.message_id,
        r.actor,
        int(r.id),
    )


def history_of(conn: Connection, entity_type: str, entity_id: int) -> list[HistoryEntry]:
    """Every version of one row, oldest first (FHIR ``_history``, vread)."""
    q = sa.select(pm_history).where(_h.entity_type == entity_type, _h.entity_id == entity_id)
    return [_entry(r) for r in conn.execute(q.order_by(_h.version, _h.id))]


def changed_by_message(conn: Connection, message_id: int) -> list[HistoryEntry]:
    """What one message changed, in the order it changed it."""
    q = sa.select(pm_history).where(_h.message_id == message_id).order_by(_h.id)
    return [_entry(r) for r in conn.execute(q)]


class SqlHistory:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def of(self, entity_type: str, entity_id: int) -> list[HistoryEntry]:
        return history_of(self.conn, entity_type, entity_id)

    def by_message(self, message_id: int) -> list[HistoryEntry]:
        return changed_by_message(self.conn, message_id)
