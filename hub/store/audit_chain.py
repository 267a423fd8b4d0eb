"""The audit hash chain: sealing unsealed rows and verifying the sealed chain.

A sealed row's ``hash`` is ``sha256(prev_hash + canonical JSON of [seq, at, actor, action,
object_type, object_id, detail])``; ``prev_hash`` of ``seq`` 1 is :data:`GENESIS`. Only the sealer
writes ``seq``, ``prev_hash``, ``hash`` and the ``audit_head`` row (the sealed tip), under a lock
that lets one sealer at a time run (a PostgreSQL advisory lock; SQLite's ``BEGIN IMMEDIATE``), so
two sealers never number the same rows. Rows are sealed in id order of what is committed; a row
committed late (a lower id in a longer transaction) is sealed in a later round, so none is
skipped.

:func:`verify` walks the sealed rows in ``seq`` order and reports every kind of damage it can
name: a row outside the sequence (``seq`` <= 0, a gap, a duplicate), a broken link, an altered
row, a missing or moved head, half-sealed rows, and, against every signed checkpoint, a chain
shorter than a checkpoint (truncation) or different from it (rewritten with the public
algorithm). Unsealed rows are counted, not judged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import AuditChainBroken
from hub.store.audit_checkpoints import AuditKey, Checkpoint, db_checkpoints
from hub.store.tables import audit_head, audit_log

GENESIS = "0" * 64
# pg_advisory_xact_lock key for sealing: any constant no other code uses ("hubaudit").
_SEAL_LOCK = 0x6875626175646974


def digest(
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


def _row_digest(prev: str, seq: int, m: Any) -> str:
    return digest(
        prev,
        seq=seq,
        at=m["at"],
        actor=m["actor"],
        action=m["action"],
        object_type=m["object_type"],
        object_id=m["object_id"],
        detail=m["detail"],
    )


# --- sealing -------------------------------------------------------------------------------


def _tip(conn: Connection) -> tuple[int, str]:
    """The sealed tip, checked against the rows; refuses to extend a damaged chain."""
    head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash)).first()
    if head is None:  # created by the migration; only tampering removes it
        raise AuditChainBroken("audit head is missing: sealing stopped (run hub audit verify)")
    seq, tip_hash = int(head.seq), str(head.hash)
    top = conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar()
    if (top or 0) != seq:
        raise AuditChainBroken(f"audit head is at seq {seq} but the last sealed row is {top}")
    if seq:
        row_hash = conn.execute(sa.select(audit_log.c.hash).where(audit_log.c.seq == seq)).scalar()
        if row_hash != tip_hash:
            raise AuditChainBroken(f"audit head does not match sealed row {seq}")
    return seq, tip_hash


_SEAL_ROW = (
    sa.update(audit_log)
    .where(audit_log.c.id == sa.bindparam("b_id"), audit_log.c.seq.is_(None))
    .values(
        seq=sa.bindparam("b_seq"), prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")
    )
)


def seal(conn: Connection, *, limit: int = 2000) -> int:
    """Seal up to ``limit`` unsealed rows in the caller's transaction; returns how many.

    Raises :class:`AuditChainBroken` (sealing nothing) if the head or the tip was tampered with.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SEAL_LOCK)))
    seq, prev = _tip(conn)
    rows = conn.execute(
        sa.select(audit_log).where(audit_log.c.seq.is_(None)).order_by(audit_log.c.id).limit(limit)
    ).all()
    if not rows:
        return 0
    params = []
    for r in rows:
        m = r._mapping
        seq += 1
        h = _row_digest(prev, seq, m)
        params.append({"b_id": m["id"], "b_seq": seq, "b_prev": prev, "b_hash": h})
        prev = h
    conn.execute(_SEAL_ROW, params)
    conn.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
    return len(rows)


def sealed_tip(conn: Connection) -> tuple[int, str] | None:
    head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash)).first()
    return None if head is None else (int(head.seq), str(head.hash))


# --- verifying -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows: int
    bad_seq: int | None = None
    reason: str = ""
    problems: tuple[str, ...] = ()
    unsealed: int = 0
    oldest_unsealed: datetime | None = None
    checkpoints: int = 0


@dataclass
class _Walk:
    rows: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    bad_seq: int | None = None
    stopped: bool = False  # the walk met a break: what follows it was not checked
    problems: list[str] = field(default_factory=list)
    hashes_at: dict[int, str] = field(default_factory=dict)

    def fail(self, seq: int, text: str) -> None:
        self.bad_seq = seq if self.bad_seq is None else self.bad_seq
        self.problems.append(text)


def _walk(conn: Connection, wanted: set[int], batch: int) -> _Walk:
    """Sealed rows in (seq, id) order; stops at the first break (what follows cannot link)."""
    w = _Walk()
    c = audit_log.c
    after: tuple[int, int] | None = None
    while True:
        q = sa.select(audit_log).where(c.seq.is_not(None)).order_by(c.seq, c.id).limit(batch)
        if after is not None:
            q = q.where(sa.or_(c.seq > after[0], sa.and_(c.seq == after[0], c.id > after[1])))
        rows = conn.execute(q).all()
        if not rows:
            return w
        for r in rows:
            m = r._mapping
            seq, expected = int(m["seq"]), w.last_seq + 1
            if seq <= 0:
                w.fail(seq, f"row id {m['id']} has seq {seq}, outside the sequence (starts at 1)")
            elif seq < expected:
                w.fail(seq, f"seq {seq} appears twice (row id {m['id']} is a second copy)")
            elif seq > expected:
                w.fail(expected, f"row {expected} is missing (the next sealed row is {seq})")
            elif m["prev_hash"] != w.last_hash:
                w.fail(seq, f"row {seq} does not link to row {seq - 1}")
            elif m["hash"] != _row_digest(w.last_hash, seq, m):
                w.fail(seq, f"row {seq} was altered (hash mismatch)")
            if w.problems:
                w.stopped = True
                return w
            if seq in wanted:
                w.hashes_at[seq] = str(m["hash"])
            w.rows, w.last_seq, w.last_hash = w.rows + 1, seq, str(m["hash"])
        after = (w.last_seq, int(rows[-1]._mapping["id"]))


def _check_head(conn: Connection, w: _Walk) -> None:
    tip = sealed_tip(conn)
    if tip is None:
        w.fail(w.last_seq + 1, "audit head is missing (deleted)")
    elif not w.stopped and tip[0] > w.last_seq:
        w.fail(w.last_seq + 1, f"rows after {w.last_seq} were deleted (head is at {tip[0]})")
    elif not w.stopped and (tip[0] != w.last_seq or tip[1] != w.last_hash):
        w.fail(tip[0], f"audit head (seq {tip[0]}) does not match the last sealed row {w.last_seq}")


def _check_checkpoints(w: _Walk, checkpoints: list[Checkpoint], key: AuditKey | None) -> None:
    for cp in checkpoints:
        when = cp.at.isoformat(timespec="seconds")
        if key is not None and cp.key_id != key.key_id:
            w.fail(
                cp.seq,
                f"checkpoint at seq {cp.seq} ({when}) is signed with another key "
                f"(id {cp.key_id}, this hub's is {key.key_id})",
            )
        elif key is not None and not key.valid(cp):
            w.fail(cp.seq, f"checkpoint at seq {cp.seq} ({when}) has a bad signature (forged)")
        elif cp.seq > w.last_seq and not w.stopped:
            w.fail(
                w.last_seq + 1,
                f"chain truncated: a signed checkpoint of {when} covers seq "
                f"{cp.seq} but the sealed chain ends at {w.last_seq}",
            )
        elif cp.seq in w.hashes_at and w.hashes_at[cp.seq] != cp.hash:
            w.fail(
                cp.seq,
                f"row {cp.seq} differs from the signed checkpoint of {when}: "
                "the chain was rewritten",
            )


def verify(
    conn: Connection,
    *,
    key: AuditKey | None = None,
    checkpoints: Iterable[Checkpoint] = (),
    batch: int = 5000,
) -> VerifyResult:
    """Check the sealed chain, the head and every checkpoint (those in the database and
    ``checkpoints``, e.g. read from the checkpoint file). Without ``key`` signatures are not
    checked, only that the chain agrees with the checkpoints."""
    cps = sorted({*db_checkpoints(conn), *checkpoints}, key=lambda cp: (cp.seq, cp.at))
    w = _walk(conn, {cp.seq for cp in cps}, batch)
    _check_head(conn, w)
    _check_checkpoints(w, cps, key)
    c = audit_log.c
    half = conn.execute(
        sa.select(sa.func.count()).where(
            sa.or_(
                sa.and_(c.seq.is_(None), sa.or_(c.hash.is_not(None), c.prev_hash.is_not(None))),
                sa.and_(c.seq.is_not(None), sa.or_(c.hash.is_(None), c.prev_hash.is_(None))),
            )
        )
    ).scalar()
    if half:
        w.fail(w.last_seq + 1, f"{half} row(s) are half-sealed (seq and hash must come together)")
    unsealed = conn.execute(sa.select(sa.func.count()).where(c.seq.is_(None))).scalar()
    oldest = conn.execute(sa.select(c.at).where(c.seq.is_(None)).order_by(c.id).limit(1)).scalar()
    return VerifyResult(
        ok=not w.problems,
        rows=w.rows,
        bad_seq=w.bad_seq,
        reason=w.problems[0] if w.problems else "",
        problems=tuple(w.problems),
        unsealed=int(unsealed or 0),
        oldest_unsealed=oldest,
        checkpoints=len(cps),
    )
