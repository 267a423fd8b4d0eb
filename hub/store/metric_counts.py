"""Counts behind ``/metrics``: messages by direction, deliveries per destination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.lifecycle import DeliveryStatus
from hub.store.tables import deliveries, destinations, messages

# Deliveries still owed to a destination: what its queue depth and oldest age count.
DELIVERY_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value)


def messages_by_direction(conn: Connection) -> list[tuple[str, str, str, str, int]]:
    """(protocol, direction, status, type, count)."""
    m = messages.c
    rows = conn.execute(
        sa.select(m.protocol, m.direction, m.status, m.type, sa.func.count()).group_by(
            m.protocol, m.direction, m.status, m.type
        )
    )
    return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


@dataclass(frozen=True, slots=True)
class DestinationQueue:
    destination: str
    by_status: dict[str, int]
    oldest_waiting: datetime | None  # created_at of the oldest pending or retrying delivery

    @property
    def waiting(self) -> int:
        return sum(self.by_status.get(s, 0) for s in DELIVERY_WAITING)


def delivery_queues(conn: Connection) -> list[DestinationQueue]:
    """Every destination (idle ones too, so their gauges read 0 rather than vanish)."""
    d = deliveries.c
    counts: dict[str, dict[str, int]] = {
        r.name: {} for r in conn.execute(sa.select(destinations.c.name))
    }
    joined = deliveries.join(destinations, destinations.c.id == d.destination_id)
    rows = conn.execute(
        sa.select(destinations.c.name, d.status, sa.func.count())
        .select_from(joined)
        .group_by(destinations.c.name, d.status)
    )
    for name, status, n in rows:
        counts.setdefault(name, {})[status] = int(n)
    oldest = dict(
        conn.execute(
            sa.select(destinations.c.name, sa.func.min(d.created_at))
            .select_from(joined)
            .where(d.status.in_(DELIVERY_WAITING))
            .group_by(destinations.c.name)
        ).all()
    )
    return [DestinationQueue(n, c, oldest.get(n)) for n, c in sorted(counts.items())]
