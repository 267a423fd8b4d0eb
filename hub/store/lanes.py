"""Lanes: which stored message may run next, and the claim that hands it to one worker.

Ordering rule (DESIGN.md section 3, step 4): a message may be claimed only when it is the *head
of its lane*, i.e. no earlier message (lower id) of the same lane is still pending; a merge
(``lane_key2``) waits in both lanes. Heads are unique per lane, so any number of workers may
claim concurrently; PostgreSQL adds ``FOR UPDATE SKIP LOCKED`` so two workers never wait on the
same head, SQLite's ``BEGIN IMMEDIATE`` already serialises claims. A claim is fenced by its
attempt (:func:`still_ours`), so a worker whose lease was taken back applies nothing.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.lifecycle import CLAIMABLE_VALUES, PENDING_VALUES, Status
from hub.store.locks import lock_keys
from hub.store.messages import MessageRecord, _record
from hub.store.prepared import Row, run
from hub.store.tables import attempts, messages
from hub.store.types import UTCDateTime


def _literal_in(values: tuple[str, ...]) -> sa.BindParameter[Any]:
    """A status list rendered into the SQL text (once, by hub.store.prepared): planners match
    a partial index's predicate only against literals, in the same order."""
    return sa.bindparam(None, list(values), expanding=True, literal_execute=True)


def _pending_in_lane(earlier_col: Any, key_col: Any) -> Any:
    """EXISTS an earlier pending message with ``earlier_col = key_col``.

    One equality per EXISTS (instead of one OR over both lane columns) lets each probe use the
    partial (lane, id) indexes: with the OR, PostgreSQL scanned every earlier row per candidate
    (~200 ms per claim at 2,000 queued; regression-tested by the ordering tests' throughput).
    The status list is rendered literally so the planner can match the partial index predicate.
    """
    earlier = earlier_col.table
    pending = _literal_in(PENDING_VALUES)
    return (
        sa.select(sa.literal(1))
        .where(earlier_col == key_col, earlier.c.id < messages.c.id, earlier.c.status.in_(pending))
        .exists()
    )


def _head_query(
    now: datetime | sa.BindParameter[Any], for_update: bool, status: Status | None = None
) -> sa.Select[Any]:
    """Claimable messages that are the head of their lane (of both lanes, for a merge).

    With one ``status`` the (status, id) index already yields rows in id order and the scan
    stops at the first head; ``status IN (...) ORDER BY id`` made SQLite collect and sort every
    queued row first, which dominated claims while ingest ran ahead of the workers.
    """
    earlier = messages.alias("earlier")
    has_second = messages.c.lane_key2.is_not(None)
    blocked = sa.or_(
        _pending_in_lane(earlier.c.lane_key, messages.c.lane_key),
        _pending_in_lane(earlier.c.lane_key2, messages.c.lane_key),
        sa.and_(has_second, _pending_in_lane(earlier.c.lane_key, messages.c.lane_key2)),
        sa.and_(has_second, _pending_in_lane(earlier.c.lane_key2, messages.c.lane_key2)),
    )
    q = (
        sa.select(*messages.c)
        .where(
            messages.c.status == status.value
            if status is not None
            else messages.c.status.in_(_literal_in(CLAIMABLE_VALUES))
        )
        .where(sa.or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= now))
        .where(~blocked)
        .order_by(messages.c.id)
        .limit(1)
    )
    if for_update:
        q = q.with_for_update(skip_locked=True, of=messages)
    return q


# Retries that fall due go first, so a steady stream of new messages cannot starve them. Order
# across lanes carries no meaning; within a lane only the head is ever claimable.
_CLAIM_ORDER = (Status.RETRYING, Status.RECEIVED)


@functools.cache
def _claim_query(by: str, for_update: bool, status: Status | None = None) -> sa.Select[Any]:
    """The claim query, built once per shape: ``by`` is "any", "id" or "lane"."""
    q = _head_query(sa.bindparam("b_now", type_=UTCDateTime()), for_update, status)
    if by == "id":
        q = q.where(messages.c.id == sa.bindparam("b_mid"))
    elif by == "lane":
        lane: sa.BindParameter[str] = sa.bindparam("b_lane")
        q = q.where(sa.or_(messages.c.lane_key == lane, messages.c.lane_key2 == lane))
    return q


_MARK_CLAIMED = (
    sa.update(messages)
    .where(messages.c.id == sa.bindparam("b_id"))
    .values(
        status=Status.PROCESSING.value,
        lease_until=sa.bindparam("b_lease"),
        updated_at=sa.bindparam("b_now"),
        attempt_count=messages.c.attempt_count + 1,
        replay_requested=0,
    )
)
_RUNNING_IN_LANES = (
    sa.select(messages.c.id)
    .where(messages.c.status == Status.PROCESSING.value, messages.c.id != sa.bindparam("b_id"))
    .where(
        sa.or_(
            messages.c.lane_key.in_([sa.bindparam("b_k1"), sa.bindparam("b_k2")]),
            messages.c.lane_key2.in_([sa.bindparam("b_k1"), sa.bindparam("b_k2")]),
        )
    )
    .limit(1)
)
_STATUS = sa.select(messages.c.status).where(messages.c.id == sa.bindparam("b_id"))
_STATUS_FOR_UPDATE = _STATUS.with_for_update()
_OPEN_ATTEMPT = sa.select(attempts.c.id).where(
    attempts.c.id == sa.bindparam("b_attempt"),
    attempts.c.message_id == sa.bindparam("b_id"),
    attempts.c.ended_at.is_(None),
)


def claim(
    conn: Connection,
    *,
    now: datetime,
    lease_until: datetime,
    message_id: int | None = None,
    lane_key: str | None = None,
) -> MessageRecord | None:
    """Claim one lane head (optionally a given message, or the head of a given lane)."""
    by = "id" if message_id is not None else "lane" if lane_key is not None else "any"
    for_update = conn.dialect.name == "postgresql"
    row = _first_head(
        conn, by, now, message_id=message_id, lane_key=lane_key, for_update=for_update
    )
    if row is None:
        return None
    rec = _record(row, with_raw=True)
    if _lane_busy(conn, rec):
        return None
    run(conn, _MARK_CLAIMED, {"b_id": rec.id, "b_lease": lease_until, "b_now": now})
    return rec


def _first_head(
    conn: Connection,
    by: str,
    now: datetime,
    *,
    message_id: int | None,
    lane_key: str | None,
    for_update: bool,
) -> Row | None:
    if by == "lane":
        # A lane's head is its earliest pending message: two probes of the partial lane
        # indexes, then the by-id query checks it is claimable and heads its other lane too.
        # (Filtering the status scan by lane read every queued row of other lanes first.)
        message_id = earliest_pending(conn, str(lane_key))
        if message_id is None:
            return None
        by = "id"
    params = {"b_now": now, "b_mid": message_id, "b_lane": lane_key}
    if by == "id":  # one row either way: no need to split by status
        return run(conn, _claim_query(by, for_update), params).first()
    for status in _CLAIM_ORDER:
        row = run(conn, _claim_query(by, for_update, status), params).first()
        if row is not None:
            return row
    return None


def peek_head(conn: Connection, *, now: datetime, lane_key: str | None = None) -> int | None:
    """The id a claim would take, read without claiming (the caller then claims that id)."""
    by = "lane" if lane_key is not None else "any"
    row = _first_head(conn, by, now, message_id=None, lane_key=lane_key, for_update=False)
    return None if row is None else int(row.id)


@functools.cache
def _heads_query(status: Status) -> sa.Select[Any]:
    q = _head_query(sa.bindparam("b_now", type_=UTCDateTime()), False, status)
    return q.with_only_columns(messages.c.id).limit(sa.bindparam("b_limit", type_=sa.Integer()))


def peek_heads(conn: Connection, *, now: datetime, limit: int) -> list[int]:
    """Up to ``limit`` claimable heads, due retries first: one per lane (a lane has one head),
    so a worker can claim them together and apply them in one transaction."""
    found: list[int] = []
    for status in _CLAIM_ORDER:
        rows = run(conn, _heads_query(status), {"b_now": now, "b_limit": limit - len(found)})
        found.extend(int(r.id) for r in rows)
        if len(found) >= limit:
            break
    return found


def _lane_busy(conn: Connection, rec: MessageRecord) -> bool:
    """Is a *later* message of the head's lane(s) being processed right now?

    Only a replay makes that possible: an old message put back to ``received`` becomes its
    lane's head while a newer one may be mid-processing. A lane runs one message at a time,
    so the replayed one waits. On PostgreSQL the lane lock makes two claims in one lane take
    turns, so each sees the other's committed ``processing``.
    """
    keys = [k for k in (rec.lane_key, rec.lane_key2) if k]
    if not keys:
        return False
    lock_lanes(conn, *keys)
    params = {"b_id": rec.id, "b_k1": keys[0], "b_k2": keys[-1]}
    busy = run(conn, _RUNNING_IN_LANES, params)
    return busy.first() is not None


def still_ours(conn: Connection, message_id: int, attempt_id: int) -> bool:
    """Fence a worker's claim: True while the message is ``processing`` under ``attempt_id``.

    On PostgreSQL the message row stays locked until the caller's transaction ends, so the
    sweeper (which skips locked rows) cannot hand the message to another worker while this one
    is applying it: a slow but alive worker keeps its claim, a dead one loses it. SQLite's
    ``BEGIN IMMEDIATE`` gives the same exclusion for the whole transaction.
    """
    q = _STATUS_FOR_UPDATE if conn.dialect.name == "postgresql" else _STATUS
    status = run(conn, q, {"b_id": message_id}).scalar()
    if status != Status.PROCESSING.value:
        return False
    open_attempt = run(conn, _OPEN_ATTEMPT, {"b_attempt": attempt_id, "b_id": message_id})
    return open_attempt.first() is not None


def lock_lanes(conn: Connection, *lane_keys: str | None) -> None:
    """Serialise inserts into the same lane(s) until the caller commits (PostgreSQL only).

    Lane order is id order, but a sequence hands out ids at insert time, not commit time: two
    concurrent ingests into one lane could commit id 11 before id 10, and a worker would take
    11 as the head. A transaction-scoped advisory lock per lane, taken before the insert, makes
    id order equal commit order within a lane. Keys are locked in sorted order (no deadlock).
    SQLite needs nothing: ``BEGIN IMMEDIATE`` already serialises every writer.

    Ingest also passes its duplicate-check keys (sha256, sender + control id) here, so two
    concurrent identical resends cannot both miss each other and both be stored as new.
    """
    lock_keys(conn, *lane_keys)


def expired_leases(conn: Connection, now: datetime) -> list[int]:
    """Messages whose worker's lease ran out. On PostgreSQL rows still locked by a live worker
    (inside its process transaction, see :func:`still_ours`) are skipped, and the rows returned
    stay locked until the caller commits."""
    q = sa.select(messages.c.id).where(
        messages.c.status == Status.PROCESSING.value, messages.c.lease_until < now
    )
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return [int(r.id) for r in conn.execute(q)]


def release_lease(conn: Connection, message_id: int, now: datetime) -> bool:
    """Hand a message whose worker died back to its lane; its open attempt is 'abandoned'."""
    result = conn.execute(
        sa.update(messages)
        .where(messages.c.id == message_id, messages.c.status == Status.PROCESSING.value)
        .where(messages.c.lease_until < now)
        .values(status=Status.RECEIVED.value, lease_until=None, updated_at=now)
    )
    if result.rowcount != 1:
        return False
    conn.execute(
        sa.update(attempts)
        .where(attempts.c.message_id == message_id, attempts.c.ended_at.is_(None))
        .values(
            outcome="abandoned",
            ended_at=now,
            error_code="lease_expired",
            error_text="worker stopped before finishing (lease expired)",
        )
    )
    return True


def due_heads(
    conn: Connection, now: datetime, *, older_than: datetime, limit: int = 500
) -> list[int]:
    """Claimable lane heads waiting since before ``older_than``: the sweeper re-queues these."""
    q = _head_query(now, for_update=False).limit(None).limit(limit)
    q = q.where(messages.c.updated_at <= older_than)
    return [int(r.id) for r in conn.execute(q)]


def _earliest(key_col: Any) -> sa.Select[Any]:
    pending = _literal_in(PENDING_VALUES)
    return sa.select(sa.func.min(messages.c.id)).where(
        key_col == sa.bindparam("b_lane"), key_col.is_not(None), messages.c.status.in_(pending)
    )


_EARLIEST = _earliest(messages.c.lane_key)
_EARLIEST2 = _earliest(messages.c.lane_key2)


def earliest_pending(conn: Connection, lane_key: str) -> int | None:
    """The lowest pending id in the lane (as first or second lane): the only possible head."""
    params = {"b_lane": lane_key[:300]}
    ids = [run(conn, q, params).scalar() for q in (_EARLIEST, _EARLIEST2)]
    found = [int(i) for i in ids if i is not None]
    return min(found) if found else None
