"""Work items of a document (ADR 0009): where a split resumes, and the document's summary.

A work item is a row of ``messages`` with ``document_id`` set: it has its own status, attempts,
lease, lane keys and raw bytes (its slice of the document), so the pipeline, the sweeper and
replay treat it exactly like a single-unit message. This module holds what only documents
need.

The document's status summarises its items (:func:`summarise`):

- ``split`` while any item (or an edited revision of one) is still pending;
- then ``failed`` when an item failed or died and no edited revision of it was processed;
- else ``processed``.

A document still being split (``processing``) is left alone: the split's last transaction
summarises it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store import messages as store
from hub.store.lifecycle import FAILED_VALUES, PENDING_VALUES, REPLAYABLE, Status
from hub.store.prepared import run
from hub.store.tables import messages


def _literal_in(values: tuple[str, ...]) -> sa.BindParameter[object]:
    return sa.bindparam(None, list(values), expanding=True, literal_execute=True)


_NEXT_INDEX = sa.select(sa.func.max(messages.c.item_index)).where(
    messages.c.document_id == sa.bindparam("b_doc"), messages.c.item_index.is_not(None)
)
_ANY_PENDING = (
    sa.select(messages.c.id)
    .where(
        messages.c.document_id == sa.bindparam("b_doc"),
        messages.c.status.in_(_literal_in(PENDING_VALUES)),
    )
    .limit(1)
)
_revision = messages.alias("revision")
_ANY_FAILED = (
    sa.select(messages.c.id)
    .where(
        messages.c.document_id == sa.bindparam("b_doc"),
        messages.c.status.in_(_literal_in(FAILED_VALUES)),
    )
    .where(
        ~sa.select(sa.literal_column("1"))
        .where(
            _revision.c.revision_of == sa.func.coalesce(messages.c.revision_of, messages.c.id),
            _revision.c.status == Status.PROCESSED.value,
        )
        .exists()
    )
    .limit(1)
)
# The error code a summary's ``failed`` carries, telling it from a split that itself failed
# (a document whose split failed keeps that failure until it is replayed and split again).
ITEM_FAILED = "item_failed"
_SUMMARISED = {Status.SPLIT.value, Status.PROCESSED.value}
_DOC_STATUS = sa.select(messages.c.status, messages.c.last_error_code).where(
    messages.c.id == sa.bindparam("b_doc")
)
_DOC_STATUS_FOR_UPDATE = _DOC_STATUS.with_for_update()


_LOCK_DOC = sa.select(messages.c.id).where(messages.c.id == sa.bindparam("b_doc")).with_for_update()


def lock_documents(conn: Connection, document_ids: Iterable[int | None]) -> None:
    """Lock the documents whose items this transaction will settle, first (PostgreSQL).

    Lock order, everywhere: document rows (by id), then the audit chain's head. A split's
    transactions hold their document from the start (the lease fence) and append audit last;
    a transaction settling items must take the documents before its first audit append, or an
    item settling (holding the audit head, wanting the document) and a split ending (holding
    the document, wanting the audit head) deadlock. SQLite serialises writers: nothing to do.
    """
    if conn.dialect.name != "postgresql":
        return
    for doc in sorted({d for d in document_ids if d is not None}):
        run(conn, _LOCK_DOC, {"b_doc": doc})


def next_item_index(conn: Connection, document_id: int) -> int:
    """Where a split (re)starts: items before this index are already stored. A split is a
    deterministic function of the document's bytes, so a resumed split skips them."""
    found = run(conn, _NEXT_INDEX, {"b_doc": document_id}).scalar()
    return 0 if found is None else int(found) + 1


def summary_of(conn: Connection, document_id: int) -> Status:
    """What the document's status should be now, from its items (the rule above)."""
    params = {"b_doc": document_id}
    if run(conn, _ANY_PENDING, params).first() is not None:
        return Status.SPLIT
    if run(conn, _ANY_FAILED, params).first() is not None:
        return Status.FAILED
    return Status.PROCESSED


def summarise(conn: Connection, document_id: int, now: datetime) -> Status | None:
    """Bring the document's status in line with its items, in the caller's transaction.

    Called by every transaction that changes an item's status. On PostgreSQL the document row
    is locked first, so two items settling at once take turns and the second one's probes see
    the first one's commit: the last writer always summarises every item. Returns the new
    status, or None when the document is not summarised (still splitting, or unchanged).
    """
    q = _DOC_STATUS_FOR_UPDATE if conn.dialect.name == "postgresql" else _DOC_STATUS
    row = run(conn, q, {"b_doc": document_id}).first()
    if row is None or not is_summary(Status(row.status), row.last_error_code):
        return None
    wanted = summary_of(conn, document_id)
    if wanted.value == row.status:
        return None
    code = ITEM_FAILED if wanted is Status.FAILED else None
    text = "an item failed (see the document's items)" if code else None
    store.transition(
        conn,
        document_id,
        Status(row.status),
        wanted,
        now=now,
        last_error_code=code,
        last_error=text,
    )
    return wanted


def is_summary(status: Status, last_error_code: str | None) -> bool:
    """Is this document status a summary of its items (the split completed)? A split still
    running (``processing``, ``retrying``...) or one that failed is the document's own."""
    return status.value in _SUMMARISED or (
        status is Status.FAILED and last_error_code == ITEM_FAILED
    )


def replayable_items(conn: Connection, document_id: int) -> list[int]:
    """The document's items a replay of the whole document puts back, in order."""
    rows = conn.execute(
        sa.select(messages.c.id)
        .where(
            messages.c.document_id == document_id,
            messages.c.status.in_([s.value for s in sorted(REPLAYABLE)]),
        )
        .order_by(messages.c.id)
    )
    return [int(r.id) for r in rows]


def has_items(conn: Connection, document_id: int) -> bool:
    q = sa.select(messages.c.id).where(messages.c.document_id == document_id).limit(1)
    return conn.execute(q).first() is not None
