"""Receipts completed after the ACK (docs/adr/0026).

The ingest transaction holds only what the ACK promises: the raw bytes, the duplicate keys, the
answer and the search columns on the message row. A stored message's receipt audit event
(``message.received``, with its real actor) and its patient references (``message_patients``)
follow: ingest leaves ``messages.receipt_pending`` set, and :func:`complete` writes both and
clears it, in one transaction, so a receipt is completed exactly once. It runs

- in the worker's lease transaction, for the messages it leases (before their outcome event);
- in the audit sealer, before every sealing round, for every receipt still pending (a message
  no worker has leased yet: a busy lane, a held or refused one, a hub without workers);
- when the sealer starts (``hub serve``, ``hub worker``), which repairs receipts left pending by
  a crash between the ACK and the completion.

So every receipt reaches the audit chain: a sealed chain never leaves a receipt out for longer
than one sealing interval of a running hub, and ``hub audit verify`` completes before it seals.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store import audit
from hub.store.id_sets import id_set, ids_param, per_dialect, pick
from hub.store.prepared import run, run_many
from hub.store.tables import message_patients, messages

log = logging.getLogger(__name__)

_PENDING = messages.c.receipt_pending.isnot(None)
_COLUMNS = (
    messages.c.id,
    messages.c.protocol,
    messages.c.type,
    messages.c.sha256,
    messages.c.received_at,
    messages.c.receipt_pending,
)
_CLEAR = per_dialect(
    lambda d: (
        sa.update(messages).where(messages.c.id.in_(id_set(d))).values(receipt_pending=sa.null())
    )
)
_INSERT_REFS = sa.insert(message_patients)


def _pending_in(dialect: str) -> sa.Select[Any]:
    q = sa.select(*_COLUMNS).where(_PENDING, messages.c.id.in_(id_set(dialect)))
    q = q.order_by(messages.c.id)
    # a worker's lease and a sealer may meet on one row: one completes it, the other skips
    return q.with_for_update(skip_locked=True) if dialect == "postgresql" else q


_PENDING_IN = per_dialect(_pending_in)


def complete(conn: Connection, ids: Sequence[int] | None = None, *, limit: int = 500) -> int:
    """Write the receipt event and patient references of pending receipts (``ids`` only, or
    the oldest ``limit``) in the caller's transaction; returns how many were completed."""
    if ids is not None and not ids:
        return 0
    rows: list[Mapping[Any, Any]]
    if ids is not None:
        found = run(conn, pick(conn, _PENDING_IN), {"b_ids": ids_param(conn, ids)})
        rows = [r._mapping for r in found]
    else:
        q = sa.select(*_COLUMNS).where(_PENDING).order_by(messages.c.id).limit(limit)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)  # as in _pending_in
        rows = [r._mapping for r in conn.execute(q)]
    if not rows:
        return 0
    write(conn, rows)
    run(conn, pick(conn, _CLEAR), {"b_ids": ids_param(conn, (m["id"] for m in rows))})
    return len(rows)


def write(conn: Connection, rows: Sequence[Mapping[Any, Any]]) -> None:
    """The receipt events and patient references of ``rows`` (messages read with their
    ``receipt_pending``, locked by the caller), in id order; the caller clears the column.
    Two statements for the lot: a worker completes its whole lease batch here."""
    refs: list[dict[str, Any]] = []
    events: list[audit.Event] = []
    for m in rows:
        pending = m["receipt_pending"]
        if pending is None:
            continue
        message_id = int(m["id"])
        refs += [
            {"message_id": message_id, "patient_ref": str(r)} for r in pending.get("refs") or ()
        ]
        events.append(
            audit.Event(
                at=m["received_at"],
                actor=str(pending.get("actor") or "feed"),
                action="message.received",
                object_type="message",
                object_id=message_id,
                detail={
                    "protocol": m["protocol"],
                    "type": m["type"],
                    "sha256": m["sha256"],
                    "outcome": str(pending.get("outcome") or "stored"),
                },
            )
        )
    run_many(conn, _INSERT_REFS, refs)
    audit.append_many(conn, events)


def count_pending(conn: Connection) -> int:
    """Receipts whose audit event is not written yet (``/metrics``, tests)."""
    return int(conn.execute(sa.select(sa.func.count()).where(_PENDING)).scalar_one())
