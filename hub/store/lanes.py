"""Lanes: which stored unit of work may run next, and the lease that hands it to one worker.

A unit of work is a single-unit message or a work item split from a document (ADR 0009); it
has a set of lane keys (a patient, a claim, both; any number). Ordering rule (DESIGN.md
section 3, steps 3a and 4): a unit may be leased only when it is the *head of all its lanes*,
i.e. no earlier (lower id) pending unit shares any of its keys; an A40 merge (both patients'
keys) waits in both lanes. Heads never share a key, so any number of workers may lease
concurrently; PostgreSQL adds ``FOR UPDATE SKIP LOCKED`` so two workers never wait on the same
head, SQLite's ``BEGIN IMMEDIATE`` already serialises leases. A lease is fenced by its attempt
(:func:`still_ours`), so a worker whose lease was taken back applies nothing.

"Lease" is the queue's verb for taking work; "claim" means a billing claim (docs/glossary.md).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store import receipts
from hub.store.id_sets import id_set, ids_param, per_dialect, pick
from hub.store.lifecycle import LEASABLE_VALUES, Status
from hub.store.locks import lock_keys
from hub.store.messages import MessageRecord, _record, opened
from hub.store.prepared import Row, run
from hub.store.tables import attempts, lane_keys, messages
from hub.store.types import UTCDateTime


def _literal_in(values: tuple[str, ...]) -> sa.BindParameter[Any]:
    """A status list rendered into the SQL text (once, by hub.store.prepared): planners match
    a partial index's predicate only against literals, in the same order."""
    return sa.bindparam(None, list(values), expanding=True, literal_execute=True)


def _blocked() -> Any:
    """EXISTS an earlier pending unit sharing any of this message's lane keys.

    ``lane_keys`` holds only pending units' keys, so no status test is needed: the probe reads
    this message's own rows (index on message_id), then, per key, the primary key
    (key, message_id) for a lower id. A key set of any size costs two index probes per key;
    there is no OR over lane columns (which made PostgreSQL scan every earlier row per
    candidate, ~200 ms a lease at 2,000 queued: ADR 0007).
    """
    mine = lane_keys.alias("mine")
    earlier = lane_keys.alias("earlier")
    return (
        sa.select(sa.literal_column("1"))
        .select_from(mine.join(earlier, earlier.c.key == mine.c.key))
        .where(mine.c.message_id == messages.c.id, earlier.c.message_id < messages.c.id)
        .exists()
    )


def _head_query(
    now: datetime | sa.BindParameter[Any], for_update: bool, status: Status | None = None
) -> sa.Select[Any]:
    """Leasable units that head every lane they belong to.

    With one ``status`` the (status, id) index already yields rows in id order and the scan
    stops at the first head; ``status IN (...) ORDER BY id`` made SQLite collect and sort every
    queued row first, which dominated leases while ingest ran ahead of the workers.
    """
    q = (
        sa.select(*messages.c)
        .where(
            messages.c.status == status.value
            if status is not None
            else messages.c.status.in_(_literal_in(LEASABLE_VALUES))
        )
        .where(sa.or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= now))
        .where(~_blocked())
        .order_by(messages.c.id)
        .limit(1)
    )
    if for_update:
        q = q.with_for_update(skip_locked=True, of=messages)
    return q


# Retries that fall due go first, so a steady stream of new messages cannot starve them. Order
# across lanes carries no meaning; within a lane only the head is ever leasable.
_LEASE_ORDER = (Status.RETRYING, Status.RECEIVED)


@functools.cache
def _lease_query(by: str, for_update: bool, status: Status | None = None) -> sa.Select[Any]:
    """The lease query, built once per shape: ``by`` is "any" or "id"."""
    q = _head_query(sa.bindparam("b_now", type_=UTCDateTime()), for_update, status)
    if by == "id":
        q = q.where(messages.c.id == sa.bindparam("b_mid"))
    return q


_LEASED: dict[str, Any] = {  # what a lease sets, on one unit or a set
    "status": Status.PROCESSING.value,
    "lease_until": sa.bindparam("b_lease", type_=UTCDateTime()),
    "updated_at": sa.bindparam("b_now", type_=UTCDateTime()),
    "attempt_count": messages.c.attempt_count + 1,
    "replay_requested": 0,
}
# one unit's lease also clears its pending receipt, which :func:`lease` writes from the row
_MARK_LEASED = (
    sa.update(messages)
    .where(messages.c.id == sa.bindparam("b_id"))
    .values({**_LEASED, "receipt_pending": sa.null()})
)
# Another unit sharing one of my keys is being processed (a pending row of a shared key whose
# unit is ``processing``): through my own lane rows, so the statement has one fixed shape.
_mine = lane_keys.alias("mine")
_other = lane_keys.alias("other")
_RUNNING = (  # the units of mine (``_mine.message_id``) with such a unit in one of their lanes
    sa.select(_mine.c.message_id)
    .select_from(
        _mine.join(_other, _other.c.key == _mine.c.key).join(
            messages, messages.c.id == _other.c.message_id
        )
    )
    .where(_other.c.message_id != _mine.c.message_id)
    .where(messages.c.status == Status.PROCESSING.value)
)
_RUNNING_IN_LANES = _RUNNING.where(_mine.c.message_id == sa.bindparam("b_id")).limit(1)


def lease(
    conn: Connection,
    *,
    now: datetime,
    lease_until: datetime,
    message_id: int | None = None,
    lane_key: str | None = None,
) -> MessageRecord | None:
    """Lease one lane head (optionally a given unit, or the head of a given lane) until
    ``lease_until``: status ``processing``, fenced by the attempt the caller opens.

    The unit's receipt event (docs/adr/0026) is written here, before any outcome of it, from
    the row the lease read and locked, and cleared by the lease's own update: two round trips
    fewer than :func:`hub.store.receipts.complete` on a ``hub worker``'s one-unit leases."""
    for_update = conn.dialect.name == "postgresql"
    row = _first_head(conn, now, message_id=message_id, lane_key=lane_key, for_update=for_update)
    if row is None:
        return None
    rec = _record(row, with_raw=True)
    if _lane_busy(conn, rec):
        return None
    run(conn, _MARK_LEASED, {"b_id": rec.id, "b_lease": lease_until, "b_now": now})
    receipts.write(conn, [row._mapping])
    return opened(conn, rec)


def _leasable_in(dialect: str) -> sa.Select[Any]:
    """The lease query (leasable, due, heading every lane) over a set of ids."""
    q = _head_query(sa.bindparam("b_now", type_=UTCDateTime()), dialect == "postgresql")
    return q.where(messages.c.id.in_(id_set(dialect))).order_by(None).limit(None)


def _open_attempts(dialect: str) -> sa.Insert:
    """An open ``process`` attempt per message of the set, numbered from its row (read before
    the lease counts it)."""
    source = sa.select(
        messages.c.id,
        sa.literal("process", type_=sa.String()),
        messages.c.attempt_count + 1,
        sa.bindparam("b_worker", type_=sa.String()),
        messages.c.replay_requested,
        sa.bindparam("b_now", type_=UTCDateTime()),
    ).where(messages.c.id.in_(id_set(dialect)))
    names = ["message_id", "stage", "number", "worker", "replay", "started_at"]
    return sa.insert(attempts).from_select(names, source)


_LEASABLE_IN = per_dialect(_leasable_in)
# of a set of heads, those with a later unit of one of their lanes processing (_lane_busy)
_BUSY_IN = per_dialect(lambda d: _RUNNING.where(_mine.c.message_id.in_(id_set(d))))
_OPEN_ATTEMPTS = per_dialect(_open_attempts)
# the attempt just opened is each message's newest: its row is ours (SQLite's writer lock,
# PostgreSQL's row lock) until we commit
_NEWEST_ATTEMPTS = per_dialect(
    lambda d: (
        sa.select(attempts.c.message_id, sa.func.max(attempts.c.id).label("attempt_id"))
        .where(attempts.c.message_id.in_(id_set(d)))
        .group_by(attempts.c.message_id)
    )
)
_MARK_LEASED_MANY = per_dialect(
    lambda d: sa.update(messages).where(messages.c.id.in_(id_set(d))).values(_LEASED)
)


def lease_many(
    conn: Connection,
    message_ids: Sequence[int],
    *,
    now: datetime,
    lease_until: datetime,
    worker: str,
) -> list[tuple[MessageRecord, int]]:
    """:func:`lease` for a set of heads (:func:`peek_heads`), each with the attempt a lease
    opens: five statements whatever the set's size, instead of four per unit. Those no longer
    leasable (leased meanwhile, blocked, busy) are left out; the rest come in the given order,
    as read before the lease (status and attempt count unchanged)."""
    if not message_ids:
        return []
    params = {"b_ids": ids_param(conn, message_ids), "b_now": now}
    rows = run(conn, pick(conn, _LEASABLE_IN), params)
    recs = {int(r.id): _record(r, with_raw=True) for r in rows}
    if recs and conn.dialect.name == "postgresql":  # lane order across workers (_lane_busy)
        lock_lanes(conn, *(k for rec in recs.values() for k in rec.lane_keys))
    if recs:
        for row in run(conn, pick(conn, _BUSY_IN), {"b_ids": ids_param(conn, recs)}):
            recs.pop(int(row.message_id), None)
    if not recs:
        return []
    params = {"b_ids": ids_param(conn, recs), "b_now": now}
    run(conn, pick(conn, _OPEN_ATTEMPTS), {**params, "b_worker": worker[:100]})
    opened_ids = {
        int(r.message_id): int(r.attempt_id)
        for r in run(conn, pick(conn, _NEWEST_ATTEMPTS), params)
    }
    run(conn, pick(conn, _MARK_LEASED_MANY), {**params, "b_lease": lease_until})
    return [(opened(conn, recs[mid]), opened_ids[mid]) for mid in message_ids if mid in recs]


def _first_head(
    conn: Connection,
    now: datetime,
    *,
    message_id: int | None,
    lane_key: str | None,
    for_update: bool,
) -> Row | None:
    if lane_key is not None:
        # A lane's head is its earliest pending unit: one probe of the lane_keys primary key,
        # then the by-id query checks it is leasable and heads its other lanes too.
        # (Filtering the status scan by lane read every queued row of other lanes first.)
        message_id = earliest_pending(conn, lane_key)
        if message_id is None:
            return None
    params = {"b_now": now, "b_mid": message_id}
    if message_id is not None:  # one row either way: no need to split by status
        return run(conn, _lease_query("id", for_update), params).first()
    for status in _LEASE_ORDER:
        row = run(conn, _lease_query("any", for_update, status), params).first()
        if row is not None:
            return row
    return None


def peek_head(conn: Connection, *, now: datetime, lane_key: str | None = None) -> int | None:
    """The id a lease would take, read without leasing (the caller then leases that id)."""
    row = _first_head(conn, now, message_id=None, lane_key=lane_key, for_update=False)
    return None if row is None else int(row.id)


@functools.cache
def _heads_query(status: Status) -> sa.Select[Any]:
    q = _head_query(sa.bindparam("b_now", type_=UTCDateTime()), False, status)
    return q.with_only_columns(messages.c.id).limit(sa.bindparam("b_limit", type_=sa.Integer()))


def peek_heads(conn: Connection, *, now: datetime, limit: int) -> list[int]:
    """Up to ``limit`` leasable heads, due retries first: heads never share a lane key, so a
    worker can lease them together and apply them in one transaction."""
    found: list[int] = []
    for status in _LEASE_ORDER:
        rows = run(conn, _heads_query(status), {"b_now": now, "b_limit": limit - len(found)})
        found.extend(int(r.id) for r in rows)
        if len(found) >= limit:
            break
    return found


def _lane_busy(conn: Connection, rec: MessageRecord) -> bool:
    """Is a *later* unit sharing one of the head's lane keys being processed right now?

    Only a replay makes that possible: an old message put back to ``received`` becomes its
    lane's head while a newer one may be mid-processing. A lane runs one unit at a time,
    so the replayed one waits. On PostgreSQL the lane lock makes two leases in one lane take
    turns, so each sees the other's committed ``processing``.
    """
    if not rec.lane_keys:
        return False
    lock_lanes(conn, *rec.lane_keys)
    return run(conn, _RUNNING_IN_LANES, {"b_id": rec.id}).first() is not None


def still_ours(conn: Connection, message_id: int, attempt_id: int) -> bool:
    """Fence a worker's lease: True while the message is ``processing`` under ``attempt_id``.

    On PostgreSQL the message row stays locked until the caller's transaction ends, so the
    sweeper (which skips locked rows) cannot hand the message to another worker while this one
    is applying it: a slow but alive worker keeps its lease, a dead one loses it. SQLite's
    ``BEGIN IMMEDIATE`` gives the same exclusion for the whole transaction. One statement (a
    round trip on PostgreSQL), the batch's own.
    """
    return message_id in still_ours_many(conn, [(message_id, attempt_id)])


def _leases_held(dialect: str) -> sa.Select[Any]:
    q = (
        sa.select(messages.c.id, attempts.c.id.label("attempt_id"))
        .join(attempts, attempts.c.message_id == messages.c.id)
        .where(
            attempts.c.id.in_(id_set(dialect)),
            attempts.c.ended_at.is_(None),
            messages.c.status == Status.PROCESSING.value,
        )
    )
    return q.with_for_update(of=messages) if dialect == "postgresql" else q


_LEASES_HELD = per_dialect(_leases_held)


def still_ours_many(conn: Connection, leases: Sequence[tuple[int, int]]) -> set[int]:
    """:func:`still_ours` for a worker's whole batch, at the start of its transaction: of the
    ``(message id, attempt id)`` pairs, the message ids still ``processing`` under that attempt.

    The fence then holds for the rest of the caller's transaction, as :func:`still_ours`
    does: PostgreSQL keeps the message rows locked (taken in one statement, before any unit's
    work), SQLite's ``BEGIN IMMEDIATE`` keeps every other writer out.

    One statement for the batch on both: the attempt ids go as one parameter
    (:mod:`hub.store.id_sets`), so it runs prepared whatever the batch's size.
    """
    if not leases:
        return set()
    wanted = set(leases)
    params = {"b_ids": ids_param(conn, sorted(aid for _, aid in leases))}
    rows = run(conn, pick(conn, _LEASES_HELD), params)
    return {int(r.id) for r in rows if (int(r.id), int(r.attempt_id)) in wanted}


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


_EXTEND = (
    sa.update(messages)
    .where(messages.c.id == sa.bindparam("b_id"), messages.c.status == Status.PROCESSING.value)
    .values(lease_until=sa.bindparam("b_lease"))
)


def extend_lease(conn: Connection, message_id: int, lease_until: datetime) -> None:
    """A long job (a document's split) keeps its lease between its short transactions."""
    run(conn, _EXTEND, {"b_id": message_id, "b_lease": lease_until})


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
    """Leasable lane heads waiting since before ``older_than``: the sweeper re-queues these."""
    q = _head_query(now, for_update=False).limit(None).limit(limit)
    q = q.where(messages.c.updated_at <= older_than)
    return [int(r.id) for r in conn.execute(q)]


_EARLIEST = sa.select(sa.func.min(lane_keys.c.message_id)).where(
    lane_keys.c.key == sa.bindparam("b_lane")
)


def peek_lane_heads(conn: Connection, *, now: datetime, keys: Sequence[str]) -> list[int]:
    """:func:`peek_head` of many lanes (a Bundle's unit holds a thousand): their earliest
    pending ids in one probe per 500 lanes, then each checked leasable by id."""
    wanted = sorted({k[:300] for k in keys})
    earliest: set[int] = set()
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            sa.select(sa.func.min(lane_keys.c.message_id))
            .where(lane_keys.c.key.in_(wanted[start : start + 500]))
            .group_by(lane_keys.c.key)
        )
        earliest.update(int(r[0]) for r in rows)
    heads = []
    for message_id in sorted(earliest):
        params = {"b_now": now, "b_mid": message_id}
        if run(conn, _lease_query("id", False), params).first() is not None:
            heads.append(message_id)
    return heads


def earliest_pending(conn: Connection, lane_key: str) -> int | None:
    """The lowest pending id in the lane: the only possible head (one primary-key probe)."""
    found = run(conn, _EARLIEST, {"b_lane": lane_key[:300]}).scalar()
    return None if found is None else int(found)
