"""The console dashboard's figures: no PHI (counts, types, senders, destinations, times)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub.clock import Clock
from hub.services.deliver import destination_dict
from hub.store import console_stats
from hub.store import destinations as dest_store
from hub.store.db import UnitOfWorkFactory
from hub.store.lifecycle import Status

WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class LaneGroup:
    protocol: str
    sender: str
    depth: int
    oldest: datetime | None
    age_seconds: float


@dataclass(frozen=True, slots=True)
class Hour:
    label: str  # "13:00"
    received: int
    failed: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    now: datetime
    by_status: dict[str, int]  # last 24 h
    by_type: list[tuple[str, str, dict[str, int], int]]  # (protocol, type, by status, total)
    queue: list[LaneGroup]
    held: int
    dead: int
    failed: int
    hours: list[Hour]
    destinations: list[dict[str, object]] = field(default_factory=list)


def _hours(now: datetime, rows: list[tuple[str, str, int]]) -> list[Hour]:
    received: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    for hour, status, n in rows:
        received[hour] += n
        if status in (Status.FAILED.value, Status.DEAD.value):
            failed[hour] += n
    out = []
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    for i in range(24):
        at = start + timedelta(hours=i)
        key = at.strftime("%Y-%m-%d %H")
        out.append(Hour(at.strftime("%H:00"), received[key], failed[key]))
    return out


def dashboard(uow: UnitOfWorkFactory, clock: Clock) -> Dashboard:
    now = clock.now()
    since = now - WINDOW
    with uow() as u:
        counts = console_stats.counts_since(u.conn, since)
        queue = console_stats.queue_by_group(u.conn)
        held = console_stats.count_status(u.conn, Status.HELD.value)
        dead = console_stats.count_status(u.conn, Status.DEAD.value)
        failed = console_stats.count_status(u.conn, Status.FAILED.value)
        hours = console_stats.per_hour(u.conn, now.replace(minute=0, second=0) - WINDOW)
        dests = dest_store.list_destinations(u.conn)
        backlog = console_stats.deliveries_by_destination(u.conn)
    by_status: dict[str, int] = defaultdict(int)
    types: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for protocol, status, mtype, n in counts:
        by_status[status] += n
        types[(protocol, mtype)][status] += n
    pending: dict[int, dict[str, int]] = defaultdict(dict)
    for dest_id, status, n in backlog:
        pending[dest_id][status] = n
    destinations = []
    for d in dests:
        row: dict[str, object] = destination_dict(d)
        row["backlog"] = dict(pending.get(d.id, {}))
        destinations.append(row)
    return Dashboard(
        now=now,
        by_status=dict(by_status),
        by_type=sorted(
            ((p, t, dict(s), sum(s.values())) for (p, t), s in types.items()),
            key=lambda row: (-row[3], row[0], row[1]),
        ),
        queue=[
            LaneGroup(p, s, n, oldest, (now - oldest).total_seconds() if oldest else 0.0)
            for p, s, n, oldest in queue
        ],
        held=held,
        dead=dead,
        failed=failed,
        hours=_hours(now, hours),
        destinations=destinations,
    )
