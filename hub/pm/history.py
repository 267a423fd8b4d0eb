"""Row versions and history: what changed, in which version, by which message or actor.

Every PM row carries ``version`` (1 when created) and ``updated_at``. A change that alters a
row's content adds 1 to its version and writes one history entry with the changed fields'
old and new values. A message that re-sends identical values changes nothing, so a replay does
not inflate versions (it still refreshes the row's provenance, ``source_message_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

Changed = dict[str, list[Any]]  # field -> [old, new], JSON-ready


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    entity_type: str  # the table: patients, appointments, claims, ...
    entity_id: int
    version: int
    changed_at: datetime
    changes: Changed
    message_id: int | None = None
    actor: str | None = None
    id: int | None = None


_PLAIN = frozenset({str, int, float, bool})


def jsonable(value: Any) -> Any:
    """A value as JSON: dates as ISO text, decimals as text, enums as their value."""
    if value is None or type(value) in _PLAIN:  # most values: returned as they are
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def _same(old: Any, new: Any) -> bool:
    if old == new:
        return True
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        try:
            return Decimal(str(old)) == Decimal(str(new))
        except ArithmeticError:
            return False
    return bool(jsonable(old) == jsonable(new))


def diff(old: Mapping[Any, Any] | None, new: Mapping[str, Any]) -> Changed:
    """The fields of ``new`` whose value differs from ``old`` (all of them for a new row)."""
    if old is None:
        return {k: [None, jsonable(v)] for k, v in new.items() if v is not None}
    return {
        k: [jsonable(old.get(k)), jsonable(v)] for k, v in new.items() if not _same(old.get(k), v)
    }
