"""Earlier versions of a PM row, rebuilt from :data:`~hub.store.pm_tables.pm_history`.

Each history row holds the fields one change altered (old and new values, as JSON); replaying
the new values of versions 1..N over an empty row gives the row as it was at version N
(FHIR vread, ``_history``). Values come back typed by the table's columns. A rebuilt row
carries ``x_as_of`` (its version's time): a patient's identifiers added later are left out
(:mod:`.load`); other parts kept in other tables (a claim's lines) and joined facts are read as
they are now: ADR 0020 says why that is enough for the PM's history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.pm.history import HistoryEntry
from hub.store.crypto_types import SealedDate
from hub.store.pm_repo.history import history_of
from hub.store.types import UTCDateTime


def _typed(col: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(col.type, UTCDateTime) and isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(col.type, sa.Date | SealedDate) and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if isinstance(col.type, sa.Numeric) and not isinstance(col.type, sa.Float):
        return Decimal(str(value))
    return value


def replay(
    table: sa.Table, current: Mapping[str, Any], entries: Sequence[HistoryEntry], version: int
) -> dict[str, Any] | None:
    """The row at ``version`` (None when its history does not reach it)."""
    steps = [e for e in entries if e.version <= version]
    if not steps or steps[-1].version != version:
        return None
    state: dict[str, Any] = {}
    for entry in steps:
        for name, (_old, new) in entry.changes.items():
            state[name] = new
    row: dict[str, Any] = {k: v for k, v in current.items() if k.startswith("x_")}
    for col in table.c:
        row[col.name] = _typed(col, state.get(col.name))
    for kept in ("created_at", "source_message_id"):  # bookkeeping, not in the diffs
        if kept in current:
            row[kept] = current[kept]
    row.update(id=current["id"], version=version, updated_at=steps[-1].changed_at)
    row["x_as_of"] = steps[-1].changed_at  # parts added later are left out (a patient's ids)
    return row


def versions_of(conn: Connection, table: sa.Table, entity_id: int) -> list[HistoryEntry]:
    return history_of(conn, table.name, entity_id)


def changes_of_type(
    conn: Connection, table: sa.Table, *, since: datetime | None, count: int
) -> list[HistoryEntry]:
    """The newest changes of any row of ``table`` (type history), newest first."""
    from hub.store.pm_tables import pm_history

    h = pm_history.c
    q = sa.select(pm_history).where(h.entity_type == table.name)
    if since is not None:
        q = q.where(h.changed_at >= since)
    q = q.order_by(h.changed_at.desc(), h.id.desc()).limit(count)
    return [
        HistoryEntry(
            r.entity_type,
            int(r.entity_id),
            int(r.version),
            r.changed_at,
            dict(r.changes),
            r.message_id,
            r.actor,
            int(r.id),
        )
        for r in conn.execute(q)
    ]
