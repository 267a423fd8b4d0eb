"""The console's message pages: keyset-paged search and the full picture of one message.

Both read PHI through :class:`hub.services.reads.ReadService` (a search by patient and every
detail view write their audit events there); the rest of a detail (items, deliveries, the PM
rows it changed, its audit trail) is ids, codes and PM values read in one more transaction.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hub.clock import Clock
from hub.pm.history import HistoryEntry, jsonable
from hub.services.deliver import delivery_dict
from hub.services.query import summary
from hub.services.raw_view import RawRenderers, RawView
from hub.services.reads import Actor, ReadService
from hub.store import audit, console_stats, deliveries, pm_repo
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory
from hub.store.messages import MessageFilter

PAGE_SIZES = (25, 50, 100, 200)


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: list[dict[str, Any]]
    last: dict[str, Any] | None  # the page's last row when more follow (the next page's keyset)
    limit: int


def search(uow: UnitOfWorkFactory, clock: Clock, flt: MessageFilter, actor: Actor) -> SearchPage:
    """One page of ``flt`` (newest first, keyset on id); one extra row says if more follow."""
    limit = flt.limit or PAGE_SIZES[0]
    rows = ReadService(uow=uow, clock=clock).messages(
        replace(flt, limit=limit + 1, offset=0, newest_first=True), actor
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return SearchPage(rows, rows[-1] if more and rows else None, limit)


@dataclass(frozen=True, slots=True)
class MessageView:
    message: dict[str, Any]  # query.detail_of: metadata, attempts, raw, answer, revisions
    raw_view: RawView | None  # None: the raw content is gone (or not text)
    items: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    trail: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # every attempt's error text, oldest first
    merges: list[tuple[int, datetime | None]] = field(default_factory=list)  # (id, undone_at)


def _history_row(h: HistoryEntry) -> dict[str, Any]:
    return {
        "entity_type": h.entity_type,
        "entity_id": h.entity_id,
        "version": h.version,
        "changed_at": h.changed_at,
        "changes": {k: jsonable(v) for k, v in h.changes.items()},
        "actor": h.actor,
    }


def _trail_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "seq", "at", "actor", "action", "detail")}


def message_view(
    uow: UnitOfWorkFactory,
    clock: Clock,
    renderers: RawRenderers,
    message_id: int,
    actor: Actor,
) -> MessageView:
    """Everything the detail page shows; opening it is an audited PHI view."""
    detail = ReadService(uow=uow, clock=clock).message(message_id, actor)
    with uow() as u:
        item_rows = store.search(
            u.conn, MessageFilter(limit=None, newest_first=False, document_id=message_id)
        )
        sent = deliveries.search(u.conn, message_id=message_id, limit=200)
        changed = pm_repo.changed_by_message(u.conn, message_id)
        trail = audit.recent(u.conn, object_type="message", object_id=str(message_id), limit=200)
        merges = console_stats.merges_by_message(u.conn, message_id)
    errors = [a["error_text"] for a in detail["attempt_log"] if a.get("error_text")]
    if detail.get("error") and detail["error"] not in errors:
        errors.append(detail["error"])
    raw_text, encoding = detail.get("raw"), detail.get("raw_encoding")
    view = None
    if raw_text:
        raw = raw_text.encode("utf-8") if encoding == "utf-8" else base64.b64decode(raw_text)
        view = renderers.render(detail["protocol"], raw, errors)
    return MessageView(
        message=detail,
        raw_view=view,
        items=[summary(r) for r in item_rows],
        deliveries=[delivery_dict(d) for d in sent],
        history=[_history_row(h) for h in changed],
        trail=[_trail_row(r) for r in trail],
        errors=errors,
        merges=merges,
    )


def when(value: str | datetime | None) -> str:
    """A stored timestamp for people: ``2026-12-02 13:45:07Z``."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else value
    return text.replace("T", " ").split(".")[0].replace("+00:00", "Z")
