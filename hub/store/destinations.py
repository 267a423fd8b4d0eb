"""Destinations: where outbound deliveries go, by kind (``mllp``, ``http``, ``file``).

``address`` is the kind's own: ``HOST:PORT`` for MLLP, a URL for HTTP, a directory for files.
``enabled`` 0 means *paused*: deliveries to it are still created and wait, in order, until it
is resumed (an EHR's maintenance window loses nothing). ``retry_horizon`` (seconds) is how long
a delivery to it is retried before it is dead-lettered; ``NULL`` takes the setting
``HUB_DELIVERY_RETRY_HORIZON``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict, NotFound, ValidationError
from hub.store.tables import destinations

KINDS = ("mllp", "http", "file")


@dataclass(frozen=True, slots=True)
class Destination:
    id: int
    name: str
    kind: str
    address: str
    facility: str
    application: str
    enabled: bool  # False: paused
    options: dict[str, Any]
    retry_horizon: float | None = None  # seconds; None: the setting's default

    @property
    def paused(self) -> bool:
        return not self.enabled


def destination_from_row(row: Any) -> Destination:
    m = row._mapping
    horizon = m["retry_horizon"]
    return Destination(
        id=int(m["id"]),
        name=m["name"],
        kind=m["kind"],
        address=m["address"],
        facility=m["facility"],
        application=m["application"],
        enabled=bool(m["enabled"]),
        options=dict(m["options"] or {}),
        retry_horizon=None if horizon is None else float(horizon),
    )


def check_horizon(seconds: float | None) -> None:
    if seconds is not None and not 0 < seconds <= 90 * 86400:
        raise ValidationError("retry horizon must be between 1 second and 90 days")


def add_destination(
    conn: Connection,
    *,
    name: str,
    kind: str,
    address: str,
    now: datetime,
    facility: str = "",
    application: str = "",
    options: dict[str, Any] | None = None,
    retry_horizon: float | None = None,
) -> int:
    if kind not in KINDS:
        raise ValidationError(f"unknown destination kind {kind!r}; one of {', '.join(KINDS)}")
    if not name or len(name) > 100:
        raise ValidationError("destination name must be 1 to 100 characters")
    if not address or len(address) > 500:
        raise ValidationError("destination address must be 1 to 500 characters")
    check_horizon(retry_horizon)
    exists = conn.execute(sa.select(destinations.c.id).where(destinations.c.name == name)).first()
    if exists is not None:
        raise Conflict(f"destination {name!r} already exists", code="destination_exists")
    return int(
        conn.execute(
            sa.insert(destinations)
            .values(
                name=name,
                kind=kind,
                address=address,
                facility=facility,
                application=application,
                enabled=1,
                options=options or {},
                created_at=now,
                retry_horizon=retry_horizon,
            )
            .returning(destinations.c.id)
        ).scalar_one()
    )


def get_destination(conn: Connection, name: str) -> Destination:
    row = conn.execute(sa.select(destinations).where(destinations.c.name == name)).first()
    if row is None:
        raise NotFound(f"no destination named {name!r}")
    return destination_from_row(row)


def get_destination_by_id(conn: Connection, destination_id: int) -> Destination:
    row = conn.execute(sa.select(destinations).where(destinations.c.id == destination_id)).one()
    return destination_from_row(row)


_ALL_DESTINATIONS = sa.select(destinations).order_by(destinations.c.id)


def list_destinations(conn: Connection, *, kind: str | None = None) -> list[Destination]:
    """Every destination, paused ones included (they queue), in id order."""
    found = [destination_from_row(r) for r in conn.execute(_ALL_DESTINATIONS)]
    return found if kind is None else [d for d in found if d.kind == kind]


def set_enabled(conn: Connection, name: str, enabled: bool) -> Destination:
    """Resume (``True``) or pause (``False``) sending to ``name``."""
    dest = get_destination(conn, name)
    conn.execute(
        sa.update(destinations)
        .where(destinations.c.id == dest.id)
        .values(enabled=1 if enabled else 0)
    )
    return get_destination(conn, name)


def set_retry_horizon(conn: Connection, name: str, seconds: float | None) -> Destination:
    check_horizon(seconds)
    dest = get_destination(conn, name)
    conn.execute(
        sa.update(destinations).where(destinations.c.id == dest.id).values(retry_horizon=seconds)
    )
    return get_destination(conn, name)
