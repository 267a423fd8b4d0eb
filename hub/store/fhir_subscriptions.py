"""Tables and queries of FHIR subscriptions and bulk exports (issue 11 items 7 and 8).

* ``fhir_subscriptions``: R4 rest-hook Subscriptions: criteria (a resource type and simple
  search parameters), the endpoint's destination (a row of ``destinations``, kind ``http``, so
  delivery, retries, dead letters and replay are the outbound queue's), the per-subscription
  HMAC secret, and the status (``requested → active | error | off``).
* ``fhir_subscription_cursor``: one row, the last ``pm_history`` id the matcher has looked at.
  The matcher tails the PM's history (every change, whatever channel made it) and advances the
  cursor in the transaction that emits its events, so a change is announced exactly once.
* ``fhir_exports``: Bulk Data export jobs: who asked (the API key: files are served to it
  only), ``_type``/``_since``, status (``accepted → running → complete | failed | cancelled``),
  progress, and the manifest's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text
from sqlalchemy.engine import Connection

from hub.errors import NotFound
from hub.store.message_tables import Id, metadata
from hub.store.pm_tables import pm_history
from hub.store.types import UTCDateTime

fhir_subscriptions = Table(
    "fhir_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("criteria", String(1000), nullable=False),
    Column("resource_type", String(40), nullable=False),
    Column("params", JSON, nullable=False),  # [[name, value], ...]
    Column("endpoint", String(1000), nullable=False),
    Column("payload", String(64)),  # application/fhir+json, or None: notification only
    Column("secret", String(200), nullable=False),
    Column("destination_id", Id, nullable=False),
    Column("resource", JSON, nullable=False),  # the Subscription as stored (no secret)
    Column("reason", String(1000)),
    Column("end_at", UTCDateTime()),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_fhir_subscriptions_type_status", "resource_type", "status"),
)

fhir_subscription_cursor = Table(
    "fhir_subscription_cursor",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_history_id", Id, nullable=False),
)

fhir_exports = Table(
    "fhir_exports",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("key_id", Id),  # the API key that asked; files are served to it only
    Column("request_url", String(2000), nullable=False),
    Column("types", JSON, nullable=False),
    Column("since", UTCDateTime()),
    Column("transaction_time", UTCDateTime(), nullable=False),
    Column("progress", String(200)),
    Column("output", JSON),  # [{"type", "url", "count"}...]
    Column("error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
)

ACTIVE, REQUESTED, OFF, ERROR = "active", "requested", "off", "error"
_s = fhir_subscriptions.c


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    id: str
    status: str
    criteria: str
    resource_type: str
    params: list[tuple[str, str]]
    endpoint: str
    payload: str | None
    secret: str
    destination_id: int
    resource: dict[str, Any]
    version: int
    end_at: datetime | None


def _sub(r: Any) -> SubscriptionRow:
    m = r._mapping
    return SubscriptionRow(
        id=m["id"],
        status=m["status"],
        criteria=m["criteria"],
        resource_type=m["resource_type"],
        params=[(str(k), str(v)) for k, v in m["params"] or []],
        endpoint=m["endpoint"],
        payload=m["payload"],
        secret=m["secret"],
        destination_id=int(m["destination_id"]),
        resource=dict(m["resource"] or {}),
        version=int(m["version"]),
        end_at=m["end_at"],
    )


def insert_subscription(conn: Connection, row: SubscriptionRow, now: datetime) -> None:
    conn.execute(
        sa.insert(fhir_subscriptions).values(
            id=row.id,
            status=row.status,
            criteria=row.criteria,
            resource_type=row.resource_type,
            params=[list(p) for p in row.params],
            endpoint=row.endpoint,
            payload=row.payload,
            secret=row.secret,
            destination_id=row.destination_id,
            resource=row.resource,
            end_at=row.end_at,
            version=row.version,
            created_at=now,
            updated_at=now,
        )
    )


def set_status(
    conn: Connection, sub_id: str, status: str, resource: dict[str, Any], now: datetime
) -> None:
    conn.execute(
        sa.update(fhir_subscriptions)
        .where(_s.id == sub_id)
        .values(status=status, resource=resource, updated_at=now, version=_s.version + 1)
    )


def get_subscription(conn: Connection, sub_id: str) -> SubscriptionRow:
    row = conn.execute(sa.select(fhir_subscriptions).where(_s.id == sub_id)).first()
    if row is None:
        raise NotFound(f"Subscription/{sub_id[:64]} is not known", code="not_found")
    return _sub(row)


def list_subscriptions(
    conn: Connection,
    *,
    status: str | None = None,
    resource_type: str | None = None,
    limit: int = 1000,
) -> list[SubscriptionRow]:
    q = sa.select(fhir_subscriptions).order_by(_s.created_at, _s.id).limit(limit)
    if status is not None:
        q = q.where(_s.status == status)
    if resource_type is not None:
        q = q.where(_s.resource_type == resource_type)
    return [_sub(r) for r in conn.execute(q)]


def delete_subscription(conn: Connection, sub_id: str) -> SubscriptionRow:
    row = get_subscription(conn, sub_id)
    conn.execute(sa.delete(fhir_subscriptions).where(_s.id == sub_id))
    return row


def active_types(conn: Connection) -> set[str]:
    q = sa.select(_s.resource_type).where(_s.status == ACTIVE).distinct()
    return {str(t) for t in conn.execute(q).scalars()}


# -- the matcher's cursor over pm_history --------------------------------------------------


def cursor(conn: Connection, *, lock: bool = False) -> int:
    q = sa.select(fhir_subscription_cursor.c.last_history_id).where(
        fhir_subscription_cursor.c.id == 1
    )
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    found = conn.execute(q).scalar()
    if found is None:
        conn.execute(sa.insert(fhir_subscription_cursor).values(id=1, last_history_id=0))
        return 0
    return int(found)


def advance(conn: Connection, last_history_id: int) -> None:
    conn.execute(
        sa.update(fhir_subscription_cursor)
        .where(fhir_subscription_cursor.c.id == 1)
        .values(last_history_id=last_history_id)
    )


def history_tail(conn: Connection, after: int, limit: int) -> Sequence[Any]:
    """``(id, entity_type, entity_id, version)`` of the changes after ``after``, in order."""
    h = pm_history.c
    q = (
        sa.select(h.id, h.entity_type, h.entity_id, h.version)
        .where(h.id > after)
        .order_by(h.id)
        .limit(limit)
    )
    return list(conn.execute(q))


def last_history_id(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(pm_history.c.id))).scalar() or 0)


# -- bulk export jobs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportRow:
    id: str
    status: str
    key_id: int | None
    request_url: str
    types: list[str]
    since: datetime | None
    transaction_time: datetime
    progress: str | None
    output: list[dict[str, Any]] | None
    error: str | None


def _export(r: Any) -> ExportRow:
    m = r._mapping
    return ExportRow(
        id=m["id"],
        status=m["status"],
        key_id=m["key_id"],
        request_url=m["request_url"],
        types=list(m["types"] or []),
        since=m["since"],
        transaction_time=m["transaction_time"],
        progress=m["progress"],
        output=m["output"],
        error=m["error"],
    )


def insert_export(conn: Connection, row: ExportRow, now: datetime) -> None:
    conn.execute(
        sa.insert(fhir_exports).values(
            id=row.id,
            status=row.status,
            key_id=row.key_id,
            request_url=row.request_url,
            types=row.types,
            since=row.since,
            transaction_time=row.transaction_time,
            created_at=now,
        )
    )


def get_export(conn: Connection, export_id: str) -> ExportRow:
    row = conn.execute(sa.select(fhir_exports).where(fhir_exports.c.id == export_id)).first()
    if row is None:
        raise NotFound("no such export job", code="not_found")
    return _export(row)


def update_export(conn: Connection, export_id: str, **values: Any) -> bool:
    """Set ``values`` unless the job was cancelled (deleted) meanwhile; False then."""
    done = conn.execute(
        sa.update(fhir_exports)
        .where(fhir_exports.c.id == export_id, fhir_exports.c.status != "cancelled")
        .values(**values)
    )
    return bool(done.rowcount)
