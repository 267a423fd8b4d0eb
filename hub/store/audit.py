"""The append-only audit log: appending and reading events.

:func:`append` inserts one *unsealed* row in the caller's transaction and nothing else: it reads
no head row and takes no lock, so receipts and processing never wait for each other on the audit
log and never depend on any other row existing. The sealer (:mod:`hub.store.audit_chain`) numbers
unsealed rows in id order shortly after and links them into the hash chain; signed checkpoints
(:mod:`hub.store.audit_checkpoints`) anchor the chain outside the database. ``hub audit verify``
(:func:`hub.store.audit_chain.verify`) checks all of it (docs/adr/0012).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.audit_chain import GENESIS, VerifyResult, digest, seal, verify
from hub.store.crypto import cipher_of
from hub.store.messages import patient_audit_ref, search_ref
from hub.store.prepared import run, run_many
from hub.store.tables import audit_log, message_patients

__all__ = [
    "GENESIS",
    "AuditFilter",
    "Event",
    "VerifyResult",
    "append",
    "append_many",
    "digest",
    "recent",
    "seal",
    "search",
    "verify",
]

_REASON_AD = b"audit_log.detail.reason"


def _opened(conn: Connection, rows: Any) -> list[dict[str, Any]]:
    """Rows as dicts, an admin's sealed reason opened (the chain hashes it as stored)."""
    cipher = cipher_of(conn.dialect)
    out = []
    for r in rows:
        row = dict(r._mapping)
        detail = row.get("detail")
        if (
            cipher is not None
            and isinstance(detail, dict)
            and isinstance(detail.get("reason"), str)
        ):
            row["detail"] = {**detail, "reason": cipher.open_text(detail["reason"], _REASON_AD)}
        out.append(row)
    return out


# Built once (module constants): these run in every ingest and processing transaction.
_INSERT = sa.insert(audit_log).returning(audit_log.c.id)
_INSERT_MANY = sa.insert(audit_log)


@dataclass(frozen=True, slots=True)
class Event:
    """One audit event, for :func:`append_many`."""

    at: datetime
    actor: str
    action: str
    object_type: str = ""
    object_id: str | int = ""
    detail: dict[str, Any] | None = None


def _row(conn: Connection, e: Event) -> dict[str, Any]:
    detail = e.detail
    cipher = cipher_of(conn.dialect)
    if cipher is not None and detail is not None and isinstance(detail.get("reason"), str):
        detail = {**detail, "reason": cipher.seal_durable_text(detail["reason"], _REASON_AD)}
    return {
        "at": e.at,
        "actor": e.actor[:200],
        "action": e.action[:64],
        "object_type": e.object_type[:32],
        "object_id": str(e.object_id)[:64],
        "detail": detail,
    }


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
    """Append one event in the caller's transaction; returns its row id (not yet its chain
    ``seq``: the sealer assigns that after commit). No PHI in ``detail``; an admin's free-text
    ``reason`` (which may name a patient) is sealed when encryption is on."""
    event = Event(at, actor, action, object_type, object_id, detail)
    row = run(conn, _INSERT, _row(conn, event)).first()
    assert row is not None
    return int(row.id)


def append_many(conn: Connection, events: Sequence[Event]) -> None:
    """Append ``events`` in the caller's transaction, in order, with one ``executemany`` (the
    worker's batch of receipts and outcomes); the same rows :func:`append` writes."""
    if events:
        run_many(conn, _INSERT_MANY, [_row(conn, e) for e in events])


def recent(
    conn: Connection,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first (insert order, sealed or not)."""
    q = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if object_type:
        q = q.where(audit_log.c.object_type == object_type)
    if object_id:
        q = q.where(audit_log.c.object_id == object_id)
    return _opened(conn, conn.execute(q))


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """``hub audit list``: every field optional; ``patient`` matches events about the patient
    itself and about messages carrying that patient identifier."""

    actor: str | None = None
    action: str | None = None
    message_id: int | None = None
    patient: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50


def search(conn: Connection, flt: AuditFilter) -> list[dict[str, Any]]:
    """Events matching ``flt``, newest first."""
    c = audit_log.c
    q = sa.select(audit_log).order_by(c.id.desc()).limit(flt.limit)
    if flt.actor:
        q = q.where(c.actor == flt.actor)
    if flt.action:
        # "message.received" exactly, or a family: "message." / "message.*"
        if flt.action.endswith((".", ".*")):
            q = q.where(c.action.startswith(flt.action.rstrip("*"), autoescape=True))
        else:
            q = q.where(c.action == flt.action)
    if flt.message_id is not None:
        q = q.where(c.object_type == "message", c.object_id == str(flt.message_id))
    if flt.patient:
        hashed = hashlib.sha256(flt.patient.encode()).hexdigest()
        ref = search_ref(cipher_of(conn.dialect), flt.patient[:200])
        about_messages = sa.select(sa.cast(message_patients.c.message_id, sa.String)).where(
            message_patients.c.patient_ref == ref
        )
        q = q.where(
            sa.or_(
                # patient events name the patient by its identifier's SHA-256 (audited reads)
                sa.and_(
                    c.object_type == "patient",
                    c.object_id.in_([flt.patient, hashed, patient_audit_ref(conn, flt.patient)]),
                ),
                sa.and_(c.object_type == "message", c.object_id.in_(about_messages)),
            )
        )
    if flt.since is not None:
        q = q.where(c.at >= flt.since)
    if flt.until is not None:
        q = q.where(c.at < flt.until)
    return _opened(conn, conn.execute(q))
