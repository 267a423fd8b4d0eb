"""The message store: insert, duplicate look-up, status changes, attempts, search.

Which message may run next (lane heads, leases) lives in :mod:`hub.store.lanes`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import Conflict, NotFound
from hub.store.crypto import Cipher, cipher_of, column_ad
from hub.store.id_sets import id_set, ids_param, per_dialect, pick
from hub.store.lifecycle import PENDING, PENDING_VALUES, Status, check_transition
from hub.store.prepared import Row, run, run_many
from hub.store.tables import attempts, lane_keys, message_patients, messages
from hub.store.types import UTCDateTime

_PENDING = list(PENDING_VALUES)

# Ids are 64-bit signed integers in both databases: a larger one can match nothing (and would
# overflow the driver), so it is dropped before the query instead of failing it.
MAX_ID = 2**63 - 1
# An id list is queried in chunks: SQLite refuses more than 32766 bound variables in one
# statement (older builds: 999), and a database error there would read as an outage.
ID_CHUNK = 500


@dataclass(frozen=True, slots=True)
class NewMessage:
    protocol: str
    raw: bytes
    sha256: str
    status: Status
    received_at: datetime
    sender: str = ""
    receiver: str = ""
    control_id: str = ""
    type: str = ""
    lane_keys: tuple[str, ...] = ()
    direction: str = "in"
    patient_refs: tuple[str, ...] = ()
    answer: bytes | None = None
    revision_of: int | None = None
    duplicate_of: int | None = None
    meta: dict[str, Any] | None = None
    last_error_code: str | None = None
    last_error: str | None = None
    document_id: int | None = None  # set on a work item split from a document (ADR 0009)
    item_index: int | None = None
    canonical_sha256: str | None = None  # inbound: what resends are recognised by
    # Set: the receipt's audit event (this actor) and the patient references are written after
    # the ACK, by hub.store.receipts (docs/adr/0026), instead of in this transaction.
    receipt_actor: str | None = None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    protocol: str
    direction: str
    sender: str
    receiver: str
    control_id: str
    sha256: str
    type: str
    lane_keys: tuple[str, ...]
    status: Status
    received_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    attempt_count: int
    replay_requested: bool
    last_error_code: str | None
    last_error: str | None
    revision_of: int | None
    duplicate_of: int | None
    meta: dict[str, Any] | None
    raw: bytes | None = None
    answer: bytes | None = None
    document_id: int | None = None
    item_index: int | None = None

    @property
    def lane_key(self) -> str | None:
        """The first lane key (the one a Celery task follows), if any."""
        return self.lane_keys[0] if self.lane_keys else None


_SUMMARY_COLS = [c for c in messages.c if c.name not in ("raw", "answer", "receipt_pending")]


def _record(row: sa.Row[Any] | Row, *, with_raw: bool = False) -> MessageRecord:
    m = row._mapping
    return MessageRecord(
        id=m["id"],
        protocol=m["protocol"],
        direction=m["direction"],
        sender=m["sender"],
        receiver=m["receiver"],
        control_id=m["control_id"],
        sha256=m["sha256"],
        type=m["type"],
        lane_keys=tuple(m["lanes"] or ()),
        status=Status(m["status"]),
        received_at=m["received_at"],
        updated_at=m["updated_at"],
        next_attempt_at=m["next_attempt_at"],
        attempt_count=m["attempt_count"],
        replay_requested=bool(m["replay_requested"]),
        last_error_code=m["last_error_code"],
        last_error=m["last_error"],
        revision_of=m["revision_of"],
        duplicate_of=m["duplicate_of"],
        meta=m["meta"],
        raw=m["raw"] if with_raw else None,
        answer=m["answer"] if with_raw else None,
        document_id=m["document_id"],
        item_index=m["item_index"],
    )


# Hot-path statements (every ingest runs them) are built once with bind parameters: building a
# Core statement and its cache key per call cost more than executing it (bench/hl7v2).
_INSERT = sa.insert(messages).returning(messages.c.id)
# With a cipher the content is sealed once the row id is known (it is part of the associated
# data, so a sealed value moved to another row fails its check): insert, then fill.
_SEAL = (
    sa.update(messages)
    .where(messages.c.id == sa.bindparam("b_id"))
    .values(raw=sa.bindparam("b_raw"), answer=sa.bindparam("b_answer"))
)
_INSERT_REFS = sa.insert(message_patients)
_SET_ANSWER = (
    sa.update(messages)
    .where(messages.c.id == sa.bindparam("b_id"))
    .values(answer=sa.bindparam("b_answer"))
)
_FIND_IDENTICAL = (
    sa.select(messages.c.id, messages.c.answer)
    .where(
        messages.c.canonical_sha256 == sa.bindparam("b_sha"),
        # coalesce() keeps SQLite off ix_messages_protocol_id: without ANALYZE statistics it
        # prefers that index (it also yields ORDER BY id) and scans every stored message of the
        # protocol, so each receipt cost grew with the store (8 ms at 8,000 messages, 60 ms at
        # 64,000). The digest's own index finds the one or two rows. protocol is NOT NULL.
        sa.func.coalesce(messages.c.protocol, "") == sa.bindparam("b_p"),
        messages.c.direction == "in",
    )
    .where(messages.c.revision_of.is_(None))
    .order_by(messages.c.id)
    .limit(1)
)
# Refused at ingest (AE/AR): failed with an "ingest" attempt. Such a message was never
# accepted, so its control id stays free for the sender's corrected resend.
_REFUSED_AT_INGEST = sa.and_(
    messages.c.status == Status.FAILED.value,
    sa.exists().where(attempts.c.message_id == messages.c.id, attempts.c.stage == "ingest"),
)
_FIND_CONTROL = (
    sa.select(messages.c.id)
    .where(
        messages.c.protocol == sa.bindparam("b_p"),
        messages.c.sender == sa.bindparam("b_sender"),
        messages.c.control_id == sa.bindparam("b_control"),
        messages.c.direction == "in",
        messages.c.document_id.is_(None),
        sa.not_(_REFUSED_AT_INGEST),
    )
    .order_by(messages.c.id)
    .limit(1)
)


def clean_keys(keys: Iterable[str | None]) -> tuple[str, ...]:
    """Lane keys as stored: non-empty, at most 300 characters, each once, in given order."""
    return tuple(dict.fromkeys(k[:300] for k in keys if k))


def seal(cipher: Cipher | None, message_id: int, column: str, value: bytes | None) -> bytes | None:
    """``value`` as stored in ``messages.<column>`` of row ``message_id``."""
    if cipher is None or value is None:
        return value
    return cipher.seal(bytes(value), column_ad("messages", column, message_id))


def unseal(cipher: Cipher | None, message_id: int, column: str, value: Any) -> bytes | None:
    """The content of ``messages.<column>`` as stored (sealed or, from before, plaintext)."""
    if value is None:
        return None
    if cipher is None:
        return bytes(value) if not isinstance(value, bytes) else value
    return cipher.open(bytes(value), column_ad("messages", column, message_id))


def search_ref(cipher: Cipher | None, ref: str) -> str:
    """A patient reference as the search column holds it: a keyed token when sealing."""
    return ref if cipher is None else cipher.search_token(ref)


def patient_audit_ref(conn: Connection, identifier: str) -> str:
    """What the audit log records of a patient searched for: the SHA-256 of the identifier, or,
    with encryption on, its keyed search token (an SSN's plain hash is a lookup away from it)."""
    cipher = cipher_of(conn.dialect)
    if cipher is None:
        return hashlib.sha256(identifier.encode()).hexdigest()
    return cipher.search_token(identifier)


_IDENTIFIER_LANE = "fhir-identifier:"


def _blind_lanes(cipher: Cipher | None, keys: tuple[str, ...]) -> tuple[str, ...]:
    """A FHIR write's identifier lanes (``fhir-identifier:Type|system|value``) name an SSN or
    a member id: with encryption on the value becomes its blind index (docs/adr/0024). Lanes
    only need to be equal for equal identifiers, which the keyed HMAC keeps."""
    if cipher is None:
        return keys
    out = []
    for key in keys:
        head, _, value = key.rpartition("|")
        blind = key.startswith(_IDENTIFIER_LANE) and key.count("|") >= 2
        out.append(f"{head}|{cipher.blind('fhir-identifier', value)}" if blind else key)
    return tuple(out)


def insert(conn: Connection, new: NewMessage) -> int:
    cipher = cipher_of(conn.dialect)
    keys = clean_keys(_blind_lanes(cipher, clean_keys(new.lane_keys)))
    values = {
        "protocol": new.protocol,
        "direction": new.direction,
        "sender": new.sender[:200],
        "receiver": new.receiver[:200],
        "control_id": new.control_id[:200],
        "sha256": new.sha256,
        "canonical_sha256": new.canonical_sha256,
        "type": new.type[:64],
        "lanes": list(keys) or None,
        "status": new.status.value,
        "received_at": new.received_at,
        "updated_at": new.received_at,
        "raw": new.raw if cipher is None else b"",
        "answer": new.answer if cipher is None else None,
        "revision_of": new.revision_of,
        "duplicate_of": new.duplicate_of,
        "meta": new.meta,
        "last_error_code": new.last_error_code,
        "last_error": new.last_error,
        "document_id": new.document_id,
        "item_index": new.item_index,
        "receipt_pending": None,
    }
    refs = sorted({search_ref(cipher, r[:200]) for r in new.patient_refs if r})
    if new.receipt_actor is not None:
        values["receipt_pending"] = {"actor": new.receipt_actor[:200], "refs": refs}
    message_id = int(run(conn, _INSERT, values).scalar_one())
    if cipher is not None:
        sealed = {
            "b_id": message_id,
            "b_raw": seal(cipher, message_id, "raw", new.raw),
            "b_answer": seal(cipher, message_id, "answer", new.answer),
        }
        run(conn, _SEAL, sealed)
    if keys and new.status in PENDING:
        enter_lanes(conn, message_id, keys)
    if refs and new.receipt_actor is None:
        run_many(conn, _INSERT_REFS, [{"message_id": message_id, "patient_ref": r} for r in refs])
    return message_id


_ENTER_LANES = sa.insert(lane_keys)
_LEAVE_LANES = sa.delete(lane_keys).where(lane_keys.c.message_id == sa.bindparam("b_id"))
_KEYS_OF = sa.select(messages.c.lanes).where(messages.c.id == sa.bindparam("b_id"))


def enter_lanes(conn: Connection, message_id: int, keys: Sequence[str]) -> None:
    """The unit becomes pending: its keys join the lanes (rows of ``lane_keys``)."""
    if len(keys) == 1:
        run(conn, _ENTER_LANES, {"key": keys[0], "message_id": message_id})
    elif keys:
        run_many(conn, _ENTER_LANES, [{"key": k, "message_id": message_id} for k in keys])


def _follow_lanes(conn: Connection, message_id: int, current: Status, new: Status) -> None:
    """Keep ``lane_keys`` holding exactly the pending units' keys across a transition."""
    was, now = current in PENDING, new in PENDING
    if was and not now:
        run(conn, _LEAVE_LANES, {"b_id": message_id})
    elif now and not was:
        keys = run(conn, _KEYS_OF, {"b_id": message_id}).scalar()
        enter_lanes(conn, message_id, list(keys or ()))


def set_answer(conn: Connection, message_id: int, answer: bytes) -> None:
    sealed = seal(cipher_of(conn.dialect), message_id, "answer", answer)
    run(conn, _SET_ANSWER, {"b_id": message_id, "b_answer": sealed})


def find_identical(
    conn: Connection, protocol: str, canonical_sha256: str
) -> tuple[int, bytes | None] | None:
    """The first inbound message with this canonical form (a resend), with its answer.

    A resend of a message refused at ingest finds that message, so the same bad bytes get the
    same AE/AR again."""
    params = {"b_sha": canonical_sha256, "b_p": protocol}
    row = run(conn, _FIND_IDENTICAL, params).first()
    if row is None:
        return None
    return int(row.id), unseal(cipher_of(conn.dialect), int(row.id), "answer", row.answer)


def find_same_control_id(
    conn: Connection, protocol: str, sender: str, control_id: str
) -> int | None:
    """The first inbound message from ``sender`` with this control id that was not refused at
    ingest: a message answered AE/AR does not hold its corrected resend (same MSH-10)."""
    if not control_id:
        return None
    params = {"b_p": protocol, "b_sender": sender[:200], "b_control": control_id[:200]}
    row = run(conn, _FIND_CONTROL, params).first()
    return int(row.id) if row else None


_GET_FULL = sa.select(*messages.c).where(messages.c.id == sa.bindparam("b_id"))
_GET_SUMMARY = sa.select(*_SUMMARY_COLS).where(messages.c.id == sa.bindparam("b_id"))
# update() without .values(): the parameters named like columns become the SET clause.
_TRANSITION = sa.update(messages).where(
    messages.c.id == sa.bindparam("b_id"), messages.c.status == sa.bindparam("b_current")
)
_START_ATTEMPT = sa.insert(attempts).returning(attempts.c.id)
_END_ATTEMPT = sa.update(attempts).where(attempts.c.id == sa.bindparam("b_id"))


def get(conn: Connection, message_id: int, *, with_raw: bool = True) -> MessageRecord:
    if not 1 <= message_id <= MAX_ID:
        raise NotFound(f"message {message_id} not found")
    row = run(conn, _GET_FULL if with_raw else _GET_SUMMARY, {"b_id": message_id}).first()
    if row is None:
        raise NotFound(f"message {message_id} not found")
    rec = _record(row, with_raw=with_raw)
    return opened(conn, rec) if with_raw else rec


def opened(conn: Connection, rec: MessageRecord) -> MessageRecord:
    """``rec`` with its raw content and answer unsealed (as read: they may be sealed)."""
    cipher = cipher_of(conn.dialect)
    if cipher is None:
        return rec
    raw = unseal(cipher, rec.id, "raw", rec.raw)
    return replace(rec, raw=raw, answer=unseal(cipher, rec.id, "answer", rec.answer))


def transition(
    conn: Connection, message_id: int, current: Status, new: Status, *, now: datetime, **values: Any
) -> None:
    """Move a message along the lifecycle; the WHERE on ``current`` guards against races."""
    check_transition(current, new)
    params = {"b_id": message_id, "b_current": current.value, "status": new.value}
    result = run(conn, _TRANSITION, {**params, "updated_at": now, **values})
    if result.rowcount != 1:
        raise Conflict(f"message {message_id} is no longer {current}", code="stale_status")
    _follow_lanes(conn, message_id, current, new)


def _processed_many(dialect: str) -> sa.Update:
    return (
        sa.update(messages)
        .where(
            messages.c.id.in_(id_set(dialect)),
            messages.c.status == Status.PROCESSING.value,
        )
        .values(
            status=Status.PROCESSED.value,
            updated_at=sa.bindparam("b_now", type_=UTCDateTime()),
            lease_until=None,
            next_attempt_at=None,
            last_error_code=None,
            last_error=None,
        )
    )


_PROCESSED_MANY = per_dialect(_processed_many)
_LEAVE_LANES_MANY = per_dialect(
    lambda d: sa.delete(lane_keys).where(lane_keys.c.message_id.in_(id_set(d)))
)


def processed_many(conn: Connection, message_ids: Sequence[int], *, now: datetime) -> None:
    """:func:`transition` from ``processing`` to ``processed`` (no error) for a batch's units,
    in two statements whatever its size: the status, then their lane keys (a worker settles
    the units it applied in one transaction, hub.queue.settle.Deferred)."""
    if not message_ids:
        return
    check_transition(Status.PROCESSING, Status.PROCESSED)
    ids = ids_param(conn, message_ids)
    result = run(conn, pick(conn, _PROCESSED_MANY), {"b_ids": ids, "b_now": now})
    if result.rowcount != len(set(message_ids)):
        raise Conflict("a message is no longer processing", code="stale_status")
    run(conn, pick(conn, _LEAVE_LANES_MANY), {"b_ids": ids})


def start_attempt(
    conn: Connection,
    message_id: int,
    *,
    stage: str,
    number: int,
    worker: str,
    now: datetime,
    replay: bool,
) -> int:
    params = {
        "message_id": message_id,
        "stage": stage,
        "number": number,
        "worker": worker[:100],
        "replay": 1 if replay else 0,
        "started_at": now,
    }
    return int(run(conn, _START_ATTEMPT, params).scalar_one())


def end_attempt(
    conn: Connection,
    attempt_id: int,
    *,
    outcome: str,
    now: datetime,
    error_code: str | None = None,
    error_text: str | None = None,
) -> None:
    run(conn, _END_ATTEMPT, attempt_end(attempt_id, outcome, now, error_code, error_text))


def attempt_end(
    attempt_id: int,
    outcome: str,
    now: datetime,
    error_code: str | None = None,
    error_text: str | None = None,
) -> dict[str, Any]:
    """The parameters of one attempt's end, for :func:`end_attempts`."""
    return {
        "outcome": outcome,
        "ended_at": now,
        "error_code": error_code,
        "b_id": attempt_id,
        "error_text": error_text,
    }


def end_attempts(conn: Connection, ends: Sequence[Mapping[str, Any]]) -> None:
    """End several attempts with one ``executemany`` (rows from :func:`attempt_end`)."""
    run_many(conn, _END_ATTEMPT, ends)


_PROCESSED_BEFORE = (
    sa.select(attempts.c.id)
    .where(
        attempts.c.message_id == sa.bindparam("b_id"),
        attempts.c.stage == "process",
        attempts.c.outcome == "ok",
    )
    .limit(1)
)


def was_processed_before(conn: Connection, message_id: int) -> bool:
    """Has an earlier attempt already applied this message (so this run is a replay of it)?"""
    return run(conn, _PROCESSED_BEFORE, {"b_id": message_id}).first() is not None


def attempts_of(conn: Connection, message_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(attempts).where(attempts.c.message_id == message_id).order_by(attempts.c.id)
    )
    return [dict(r._mapping) for r in rows]


@dataclass(frozen=True, slots=True)
class MessageFilter:
    ids: Sequence[int] = ()
    status: Status | None = None
    type: str | None = None
    sender: str | None = None
    control_id: str | None = None
    patient: str | None = None
    protocol: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = 100
    offset: int = 0
    newest_first: bool = True
    # keyset paging (the console): only ids below this one (newest first) or above it (oldest
    # first), so page 500 costs what page 1 costs
    after_id: int | None = None
    document_id: int | None = None  # the items of one document
    # newest first by arrival time, then id (the console, when a time range is given: the
    # ``received_at`` index then serves range and order); the keyset is (after_at, after_id)
    by_time: bool = False
    after_at: datetime | None = None


def _filtered(flt: MessageFilter, cols: Iterable[Any], ids: Sequence[int] = ()) -> sa.Select[Any]:
    q = sa.select(*cols)
    if ids:
        q = q.where(messages.c.id.in_(list(ids)))
    if flt.status is not None:
        q = q.where(messages.c.status == flt.status.value)
    if flt.type and "^" in flt.type:
        q = q.where(messages.c.type == flt.type)  # one trigger: the (type, id) index in order
    elif flt.type:
        # "ADT" matches every ADT trigger. A range, not LIKE: SQLite uses an index for a LIKE
        # prefix only under case-sensitive LIKE ('_' follows '^').
        q = q.where(
            sa.or_(
                messages.c.type == flt.type,
                sa.and_(messages.c.type >= flt.type + "^", messages.c.type < flt.type + "_"),
            )
        )
    if flt.sender:
        q = q.where(messages.c.sender == flt.sender)
    if flt.control_id:
        q = q.where(messages.c.control_id == flt.control_id)
    if flt.protocol:
        q = q.where(messages.c.protocol == flt.protocol)
    if flt.patient:
        q = q.where(messages.c.id.in_(messages_of_patient(flt.patient)))
    if flt.since is not None:
        q = q.where(messages.c.received_at >= flt.since)
    if flt.until is not None:
        q = q.where(messages.c.received_at < flt.until)
    if flt.document_id is not None:
        q = q.where(messages.c.document_id == flt.document_id)
    if flt.by_time and flt.after_at is not None and flt.after_id is not None:
        # a row-value comparison: one index range on (received_at, id), no OR of two
        keyset = sa.tuple_(messages.c.received_at, messages.c.id)
        q = q.where(keyset < sa.tuple_(sa.literal(flt.after_at, UTCDateTime()), flt.after_id))
    elif flt.after_id is not None:
        past = messages.c.id < flt.after_id if flt.newest_first else messages.c.id > flt.after_id
        q = q.where(past)
    return q


def _id_chunks(flt: MessageFilter) -> list[list[int]]:
    wanted = sorted({i for i in flt.ids if 1 <= i <= MAX_ID})
    return [wanted[i : i + ID_CHUNK] for i in range(0, len(wanted), ID_CHUNK)]


def _searchable(conn: Connection, flt: MessageFilter) -> MessageFilter:
    """The filter as the columns hold values: a patient reference becomes its search token."""
    cipher = cipher_of(conn.dialect)
    if cipher is None or not flt.patient:
        return flt
    return replace(flt, patient=search_ref(cipher, flt.patient[:200]))


def search_statement(flt: MessageFilter) -> sa.Select[Any]:
    """The statement :func:`search` runs for a filter without ids (tests EXPLAIN it)."""
    order = messages.c.id.desc() if flt.newest_first else messages.c.id
    q = _filtered(flt, _SUMMARY_COLS)
    if flt.by_time:
        q = q.order_by(messages.c.received_at.desc(), messages.c.id.desc())
    else:
        q = q.order_by(order)
    if flt.limit is not None:
        q = q.limit(flt.limit)
    if flt.offset:
        q = q.offset(flt.offset)
    return q


def search(conn: Connection, flt: MessageFilter) -> list[MessageRecord]:
    flt = _searchable(conn, flt)
    if not flt.ids:
        return [_record(r) for r in conn.execute(search_statement(flt))]
    found = [
        _record(r)
        for chunk in _id_chunks(flt)
        for r in conn.execute(_filtered(flt, _SUMMARY_COLS, chunk))
    ]
    found.sort(key=lambda rec: rec.id, reverse=flt.newest_first)
    end = None if flt.limit is None else flt.offset + flt.limit
    return found[flt.offset : end]


def search_ids(conn: Connection, flt: MessageFilter) -> list[int]:
    flt = _searchable(conn, flt)
    if not flt.ids:
        q = _filtered(flt, [messages.c.id]).order_by(messages.c.id)
        if flt.limit is not None:
            q = q.limit(flt.limit)
        return [int(r.id) for r in conn.execute(q)]
    found = sorted(
        int(r.id)
        for chunk in _id_chunks(flt)
        for r in conn.execute(_filtered(flt, [messages.c.id], chunk))
    )
    return found if flt.limit is None else found[: flt.limit]


def without_raw(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` have no raw content left (purged): nothing to replay from."""
    gone: set[int] = set()
    wanted = sorted({i for i in ids if 1 <= i <= MAX_ID})
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[start : start + ID_CHUNK]
        rows = conn.execute(
            sa.select(messages.c.id).where(
                messages.c.id.in_(chunk), sa.func.length(messages.c.raw) == 0
            )
        )
        gone.update(int(r.id) for r in rows)
    return gone


def revisions_of(conn: Connection, message_id: int) -> list[int]:
    """The edited revisions stored for ``message_id`` (their ``revision_of`` points to it)."""
    rows = conn.execute(
        sa.select(messages.c.id).where(messages.c.revision_of == message_id).order_by(messages.c.id)
    )
    return [int(r.id) for r in rows]


def messages_of_patient(ref: str) -> sa.CompoundSelect[Any]:
    """Ids of the messages carrying patient reference ``ref`` (as the column holds it): those
    whose receipt is complete (``message_patients``) and those whose receipt is still pending
    (docs/adr/0026: the refs wait on the row; the partial index keeps that scan to the few
    pending rows), so a search right after the ACK finds the message."""
    pending = sa.cast(messages.c.receipt_pending, sa.Text).contains(
        json.dumps(ref), autoescape=True
    )
    return sa.union_all(
        sa.select(message_patients.c.message_id).where(message_patients.c.patient_ref == ref),
        sa.select(messages.c.id).where(messages.c.receipt_pending.isnot(None), pending),
    )


def patient_refs(conn: Connection, message_id: int) -> list[str]:
    rows = conn.execute(
        sa.select(message_patients.c.patient_ref).where(message_patients.c.message_id == message_id)
    )
    found = [r.patient_ref for r in rows]
    pending = conn.execute(
        sa.select(messages.c.receipt_pending).where(messages.c.id == message_id)
    ).scalar()
    return found + [str(r) for r in (pending or {}).get("refs", ())]


def counts_by_status_type(conn: Connection) -> list[tuple[str, str, str, int]]:
    rows = conn.execute(
        sa.select(
            messages.c.protocol, messages.c.status, messages.c.type, sa.func.count()
        ).group_by(messages.c.protocol, messages.c.status, messages.c.type)
    )
    return [(r[0], r[1], r[2], int(r[3])) for r in rows]


def held_unanswered_counts(conn: Connection) -> list[tuple[str, int]]:
    """Held messages whose sender got no answer (HL7 MSH-15 NE), by protocol: nobody was told."""
    rows = conn.execute(
        sa.select(messages.c.protocol, sa.func.count())
        .where(messages.c.status == Status.HELD.value, messages.c.answer.is_(None))
        .group_by(messages.c.protocol)
    )
    return [(r[0], int(r[1])) for r in rows]


def oldest_pending_received_at(conn: Connection) -> datetime | None:
    return conn.execute(
        sa.select(sa.func.min(messages.c.received_at)).where(messages.c.status.in_(_PENDING))
    ).scalar()


def attempt_outcomes(conn: Connection) -> list[tuple[str, str, int]]:
    # a literal, not a bind parameter: PostgreSQL cannot match two parameters in GROUP BY
    outcome = sa.func.coalesce(attempts.c.outcome, sa.literal_column("'open'"))
    rows = conn.execute(
        sa.select(attempts.c.stage, outcome, sa.func.count()).group_by(attempts.c.stage, outcome)
    )
    return [(r[0], r[1], int(r[2])) for r in rows]
