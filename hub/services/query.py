"""Read models for the admin API, CLI and console: messages as plain JSON-able dicts.

``status`` is always the lifecycle name. Raw bytes are returned only by :func:`detail_of`, which
takes a connection: entrypoints read PHI through :class:`hub.services.reads.ReadService`, which
writes the audit event in the same transaction.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from hub.errors import ValidationError
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.messages import MessageRecord


def parse_status(value: str | None) -> Status | None:
    """A lifecycle name from a user (API query, CLI option), or a clear error naming them all."""
    if value is None:
        return None
    try:
        return Status(value)
    except ValueError:
        raise ValidationError(
            f"unknown status {value!r}; one of " + ", ".join(s.value for s in Status),
            code="bad_status",
        ) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary(rec: MessageRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "protocol": rec.protocol,
        "direction": rec.direction,
        "status": rec.status.value,
        "type": rec.type,
        "sender": rec.sender,
        "receiver": rec.receiver,
        "control_id": rec.control_id,
        "received_at": _iso(rec.received_at),
        "updated_at": _iso(rec.updated_at),
        "attempts": rec.attempt_count,
        "next_attempt_at": _iso(rec.next_attempt_at),
        "lane_key": rec.lane_key,
        "lane_keys": list(rec.lane_keys),
        "document_id": rec.document_id,
        "item_index": rec.item_index,
        "sha256": rec.sha256,
        "error_code": rec.last_error_code,
        "error": rec.last_error,
        "revision_of": rec.revision_of,
        "duplicate_of": rec.duplicate_of,
    }


def decode_raw(raw: bytes) -> tuple[str, str]:
    """(text, encoding) for display: UTF-8 if it decodes, else base64."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


def detail_of(conn: Connection, message_id: int) -> dict[str, Any]:
    """Metadata, attempts, patients, raw content and answer of one message (PHI: audit it)."""
    rec = store.get(conn, message_id, with_raw=True)
    out = summary(rec)
    out["attempt_log"] = [
        {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in a.items() if k != "message_id"}
        for a in store.attempts_of(conn, message_id)
    ]
    out["patients"] = store.patient_refs(conn, message_id)
    out["revisions"] = store.revisions_of(conn, message_id)
    out["meta"] = rec.meta
    assert rec.raw is not None
    out["raw"], out["raw_encoding"] = decode_raw(rec.raw)
    if rec.answer is not None:
        out["answer"], out["answer_encoding"] = decode_raw(rec.answer)
    else:
        out["answer"] = None
    return out


def outcomes(conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The current summary of each of ``ids`` (id lists are queried in chunks); no raw content."""
    found = store.search(conn, store.MessageFilter(ids=ids, limit=None, newest_first=False))
    return {r.id: summary(r) for r in found}
