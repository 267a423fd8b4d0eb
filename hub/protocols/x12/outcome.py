"""What became of a stored X12 document: its own status and its work items' (one per claim,
ADR 0009), counted by item type and status, for ``hub x12 ingest``'s summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory
from hub.store.tables import messages


@dataclass(frozen=True, slots=True)
class DocumentOutcome:
    message_id: int
    status: str
    error_code: str | None
    error: str | None  # no PHI: the pipeline's safe error text
    items: Counter[str] = field(default_factory=Counter)  # status -> count
    item_types: dict[str, Counter[str]] = field(default_factory=dict)  # type -> status -> n

    @property
    def processed(self) -> int:
        return self.items["processed"]

    @property
    def failed(self) -> int:
        return self.items["failed"] + self.items["dead"]

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.message_id,
            "status": self.status,
            "error_code": self.error_code,
            "error": self.error,
            "items": dict(self.items),
            "item_types": {t: dict(c) for t, c in sorted(self.item_types.items())},
        }


_ITEMS = (
    sa.select(messages.c.type, messages.c.status, sa.func.count())
    .where(messages.c.document_id == sa.bindparam("doc"))
    .group_by(messages.c.type, messages.c.status)
)


def document_outcome(uow: UnitOfWorkFactory, message_id: int) -> DocumentOutcome:
    with uow() as unit:
        record = store.get(unit.conn, message_id, with_raw=False)
        rows = unit.conn.execute(_ITEMS, {"doc": message_id}).all()
    items: Counter[str] = Counter()
    types: dict[str, Counter[str]] = {}
    for item_type, status, count in rows:
        items[status] += int(count)
        types.setdefault(item_type, Counter())[status] += int(count)
    return DocumentOutcome(
        message_id,
        record.status.value,
        record.last_error_code,
        record.last_error,
        items,
        types,
    )
