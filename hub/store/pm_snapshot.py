"""PM rows a message touched, read back for a replay dry run's diff (issue 10, item 20).

Every PM row records the message that last changed it (``source_message_id``, see
:mod:`hub.store.pm_tables`): after applying a message in a transaction that is then rolled
back, the rows carrying its id are the ones it would write; the same rows read outside that
transaction are today's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.tables import metadata

RowKey = tuple[str, int]  # (table name, row id)
# Bookkeeping columns: they change on every write and say nothing about the PM's content.
_BOOKKEEPING = frozenset({"id", "source_message_id", "created_at", "updated_at", "version"})


def _pm_tables() -> list[sa.Table]:
    return [
        t
        for t in metadata.sorted_tables
        if "source_message_id" in t.c and "id" in t.c and t.name != "messages"
    ]


def _content(row: sa.Row[Any]) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in _BOOKKEEPING}


def touched_by(conn: Connection, message_id: int) -> dict[RowKey, dict[str, Any]]:
    """Every PM row whose last change came from ``message_id``, by (table, id)."""
    found: dict[RowKey, dict[str, Any]] = {}
    for table in _pm_tables():
        for row in conn.execute(sa.select(table).where(table.c.source_message_id == message_id)):
            found[(table.name, int(row._mapping["id"]))] = _content(row)
    return found


def rows(conn: Connection, keys: Iterable[RowKey]) -> dict[RowKey, dict[str, Any] | None]:
    """The current content of each row (``None`` for a row that does not exist)."""
    by_name = {t.name: t for t in _pm_tables()}
    out: dict[RowKey, dict[str, Any] | None] = {}
    for name, row_id in keys:
        table = by_name[name]
        row = conn.execute(sa.select(table).where(table.c.id == row_id)).first()
        out[(name, row_id)] = None if row is None else _content(row)
    return out
