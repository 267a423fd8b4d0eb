"""Reading the PM for protocols that serve it back (FHIR): rows by id, at a version, their
history, and searches (:mod:`.search`), loaded a page at a time (:mod:`.load`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from hub.pm.history import HistoryEntry
from hub.pm.queries import Kind, PmQuery
from hub.store.pm_read.load import load
from hub.store.pm_read.search import SHAPES, rows_by_id, run_search
from hub.store.pm_read.versions import changes_of_type, replay, versions_of


def exists(conn: Connection, kind: Kind, entity_id: int) -> bool:
    return bool(rows_by_id(conn, kind, [entity_id]))


def get_many(conn: Connection, kind: Kind, ids: Sequence[int]) -> list[Any]:
    return load(conn, kind, rows_by_id(conn, kind, ids))


def get(conn: Connection, kind: Kind, entity_id: int) -> Any | None:
    found = get_many(conn, kind, [entity_id])
    return found[0] if found else None


def at_version(conn: Connection, kind: Kind, entity_id: int, version: int) -> Any | None:
    rows = rows_by_id(conn, kind, [entity_id])
    if not rows:
        return None
    current = dict(rows[0]._mapping)
    if int(current["version"]) == version:
        return load(conn, kind, [current])[0]
    if version > int(current["version"]) or version < 1:
        return None
    table = SHAPES[kind].table
    row = replay(table, current, versions_of(conn, table, entity_id), version)
    return None if row is None else load(conn, kind, [row])[0]


def history(conn: Connection, kind: Kind, entity_id: int) -> list[tuple[HistoryEntry, Any]]:
    """Every version of one row, newest first, each with the row as it was."""
    rows = rows_by_id(conn, kind, [entity_id])
    if not rows:
        return []
    current = dict(rows[0]._mapping)
    table = SHAPES[kind].table
    entries = versions_of(conn, table, entity_id)
    if not entries:  # a row written before history was kept: its current version only
        changed = current.get("updated_at") or current.get("created_at")
        if changed is None:
            return []
        only = HistoryEntry(table.name, entity_id, int(current["version"]), changed, {})
        return [(only, load(conn, kind, [current])[0])]
    out = []
    for entry in reversed(entries):
        row = current if entry.version == int(current["version"]) else None
        row = row or replay(table, current, entries, entry.version)
        if row is not None:
            out.append((entry, load(conn, kind, [row])[0]))
    return out


def type_history(
    conn: Connection, kind: Kind, *, since: datetime | None, count: int
) -> list[tuple[HistoryEntry, Any]]:
    """The newest changes of a kind, newest first, each with the row as it was then."""
    table = SHAPES[kind].table
    entries = changes_of_type(conn, table, since=since, count=count)
    ids = sorted({e.entity_id for e in entries})
    current = {int(r._mapping["id"]): dict(r._mapping) for r in rows_by_id(conn, kind, ids)}
    out = []
    for entry in entries:
        now = current.get(entry.entity_id)
        if now is None:
            continue
        if entry.version == int(now["version"]):
            row: dict[str, Any] | None = now
        else:
            row = replay(table, now, versions_of(conn, table, entry.entity_id), entry.version)
        if row is not None:
            out.append((entry, load(conn, kind, [row])[0]))
    return out


def search(conn: Connection, q: PmQuery) -> tuple[int | None, list[Any]]:
    total, rows = run_search(conn, q)
    return total, load(conn, q.kind, rows)
