"""Aggregates for the console's dashboard: each an indexed range or a small set's GROUP BY.

- last 24 hours by status and type: the ``received_at`` index range;
- the queue: pending units (received, processing, retrying) by protocol and sender (the lane
  group: one EHR feed, one clearinghouse), with the oldest one's arrival;
- held and dead: the ``(status, id)`` index;
- throughput: messages per hour over the last 24 hours, received and failed;
- destinations: deliveries by destination and status (pending, retrying, failed, dead).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.lifecycle import PENDING_VALUES
from hub.store.tables import deliveries, messages

_m = messages.c


def counts_since(conn: Connection, since: datetime) -> list[tuple[str, str, str, int]]:
    """(protocol, status, type, count) of messages received since ``since``."""
    rows = conn.execute(
        sa.select(_m.protocol, _m.status, _m.type, sa.func.count())
        .where(_m.received_at >= since)
        .group_by(_m.protocol, _m.status, _m.type)
    )
    return [(r[0], r[1], r[2], int(r[3])) for r in rows]


def queue_by_group(conn: Connection) -> list[tuple[str, str, int, datetime | None]]:
    """(protocol, sender, pending count, oldest received_at) of pending units."""
    rows = conn.execute(
        sa.select(_m.protocol, _m.sender, sa.func.count(), sa.func.min(_m.received_at))
        .where(_m.status.in_(list(PENDING_VALUES)))
        .group_by(_m.protocol, _m.sender)
        .order_by(sa.func.min(_m.received_at))
    )
    return [(r[0], r[1], int(r[2]), r[3]) for r in rows]


def count_status(conn: Connection, status: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).select_from(messages).where(_m.status == status)
        ).scalar_one()
    )


def _hour(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        utc = sa.func.timezone("UTC", _m.received_at)  # whatever the session's time zone
        return sa.func.to_char(sa.func.date_trunc("hour", utc), "YYYY-MM-DD HH24")
    return sa.func.substr(_m.received_at, 1, 13)  # stored as ISO text: "2026-12-02 13"


def per_hour(conn: Connection, since: datetime) -> list[tuple[str, str, int]]:
    """(hour "YYYY-MM-DD HH", status, count) of messages received since ``since``."""
    hour = _hour(conn)
    rows = conn.execute(
        sa.select(hour, _m.status, sa.func.count())
        .where(_m.received_at >= since)
        .group_by(hour, _m.status)
    )
    return [(str(r[0]).replace("T", " ")[:13], r[1], int(r[2])) for r in rows]


def deliveries_by_destination(conn: Connection) -> list[tuple[int, str, int]]:
    """(destination id, status, count) of deliveries not yet sent."""
    d = deliveries.c
    rows = conn.execute(
        sa.select(d.destination_id, d.status, sa.func.count())
        .where(d.status != "sent")
        .group_by(d.destination_id, d.status)
    )
    return [(int(r[0]), r[1], int(r[2])) for r in rows]


def merges_by_message(conn: Connection, message_id: int) -> list[tuple[int, datetime | None]]:
    """(merge id, undone_at) of the A40 merges a message made (merges are few: no index)."""
    from hub.store.pm_tables import merge_records

    rows = conn.execute(
        sa.select(merge_records.c.id, merge_records.c.undone_at)
        .where(merge_records.c.source_message_id == message_id)
        .order_by(merge_records.c.id)
    )
    return [(int(r.id), r.undone_at) for r in rows]
