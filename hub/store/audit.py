"""The append-only, hash-chained audit log.

Each row's ``hash`` is ``sha256(prev_hash + canonical JSON of the row)``; ``audit_head`` holds the
tip. Appends lock the head row, so the chain never forks under concurrent writers, and
:func:`verify` finds an edited row (hash mismatch), a deleted row (gap in ``seq`` or a broken
link), and a deleted tail (head ahead of the last row).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.prepared import run
from hub.store.tables import audit_head, audit_log

GENESIS = "0" * 64


def _digest(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    detail: Any,
) -> str:
    body = json.dumps(
        [seq, at.isoformat(timespec="microseconds"), actor, action, object_type, object_id, detail],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


_HEAD = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_INSERT = sa.insert(audit_log)
_MOVE_HEAD = (
    sa.update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=sa.bindparam("b_seq"), hash=sa.bindparam("b_hash"))
)


def append(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one event in the caller's transaction; returns its ``seq``. No PHI in ``detail``."""
    # Built once (module constants): this runs in every ingest and processing transaction.
    head_q = _HEAD_FOR_UPDATE if conn.dialect.name == "postgresql" else _HEAD
    head = run(conn, head_q).first()
    if head is None and conn.dialect.name == "postgresql":
        # First event ever: concurrent first writers must not both start a chain. ON CONFLICT
        # lets exactly one insert the genesis head; everyone then locks that one row.
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(
            pg_insert(audit_head)
            .values(id=1, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        head = run(conn, head_q).first()
    if head is None:  # SQLite: writers are already serialised by BEGIN IMMEDIATE
        conn.execute(sa.insert(audit_head).values(id=1, seq=0, hash=GENESIS))
        seq, prev = 1, GENESIS
    else:
        seq, prev = int(head.seq) + 1, str(head.hash)
    oid = str(object_id)
    digest = _digest(
        prev,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=oid,
        detail=detail,
    )
    run(
        conn,
        _INSERT,
        {
            "seq": seq,
            "at": at,
            "actor": actor[:200],
            "action": action,
            "object_type": object_type,
            "object_id": oid,
            "detail": detail,
            "prev_hash": prev,
            "hash": digest,
        },
    )
    run(conn, _MOVE_HEAD, {"b_seq": seq, "b_hash": digest})
    return seq


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows: int
    bad_seq: int | None = None
    reason: str = ""


def verify(conn: Connection, *, batch: int = 5000) -> VerifyResult:
    prev, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = conn.execute(
            sa.select(audit_log)
            .where(audit_log.c.seq > last_seq)
            .order_by(audit_log.c.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for r in rows:
            m = r._mapping
            seq = int(m["seq"])
            if seq != expected_seq:
                return VerifyResult(False, count, expected_seq, f"row {expected_seq} is missing")
            if m["prev_hash"] != prev:
                return VerifyResult(False, count, seq, f"row {seq} does not link to row {seq - 1}")
            digest = _digest(
                prev,
                seq=seq,
                at=m["at"],
                actor=m["actor"],
                action=m["action"],
                object_type=m["object_type"],
                object_id=m["object_id"],
                detail=m["detail"],
            )
            if digest != m["hash"]:
                return VerifyResult(False, count, seq, f"row {seq} was altered (hash mismatch)")
            prev, expected_seq, count, last_seq = m["hash"], seq + 1, count + 1, seq
    head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash)).first()
    if head is not None and (int(head.seq) != last_seq or head.hash != prev):
        return VerifyResult(
            False,
            count,
            last_seq + 1,
            f"rows after {last_seq} were deleted (head is at {head.seq})",
        )
    return VerifyResult(True, count)


def recent(
    conn: Connection,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    q = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if object_type:
        q = q.where(audit_log.c.object_type == object_type)
    if object_id:
        q = q.where(audit_log.c.object_id == object_id)
    return [dict(r._mapping) for r in conn.execute(q)]
