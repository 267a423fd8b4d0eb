"""Column types that seal patient data in the PM tables (names, birth dates, addresses,
identifiers, the history of their changes) when the engine has a cipher (:mod:`hub.store.crypto`).

The associated data is ``table.column``: a PM value is bound to its column (moving it to another
column fails), not to its row, because a column type never sees the row it is written to.
Reads return what the repositories always read (``str``, ``date``, JSON values); plaintext
written before encryption was turned on reads unchanged. Equality in SQL no longer works on a
sealed column: the repositories that compared one now compare in Python (the identifiers of
one patient, a handful of rows).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from hub.store.crypto import cipher_of, column_ad


class SealedText(TypeDecorator[str]):
    """Text, sealed as ``enc1:<base64>`` when a cipher is installed."""

    impl = Text
    cache_ok = True

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column  # "table.column"
        table, name = column.split(".", 1)
        self._ad = column_ad(table, name)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        cipher = cipher_of(dialect)
        if value is None or cipher is None:
            return value
        return cipher.seal_text(value, self._ad)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        cipher = cipher_of(dialect)
        text = str(value)
        return text if cipher is None else cipher.open_text(text, self._ad)


class SealedDate(TypeDecorator[date]):
    """A date kept as ISO text (sealed when a cipher is installed)."""

    impl = Text
    cache_ok = True

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column
        self._text = SealedText(column)

    def process_bind_param(self, value: date | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self._text.process_bind_param(value.isoformat(), dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> date | None:
        if value is None:
            return None
        if isinstance(value, date):  # a DATE column not yet migrated
            return value
        text = self._text.process_result_value(value, dialect)
        return None if text is None else date.fromisoformat(text[:10])


class SealedJSON(TypeDecorator[Any]):
    """JSON; sealed, the document becomes one JSON string ``"enc1:<base64>"``."""

    impl = JSON
    cache_ok = True

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column
        table, name = column.split(".", 1)
        self._ad = column_ad(table, name)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        cipher = cipher_of(dialect)
        if value is None or cipher is None:
            return value
        return cipher.seal_text(json.dumps(value, separators=(",", ":")), self._ad)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        cipher = cipher_of(dialect)
        if cipher is None or not isinstance(value, str):
            return value
        opened = cipher.open_text(value, self._ad)
        return json.loads(opened) if opened is not value else value


class SearchKey(TypeDecorator[str]):
    """A blind index column (:mod:`hub.store.blind_index`): ``source``'s value in clear without
    a cipher, its keyed HMAC (purpose ``purpose``) with one. Bound values are converted the
    same way, so ``column == value`` needs no branch and a unique constraint on the column is
    one on the value."""

    impl = String(200)
    cache_ok = True

    def __init__(self, purpose: str, source: str) -> None:
        super().__init__()
        self.purpose = purpose
        self.source = source  # the column of the same table whose plaintext this indexes

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        cipher = cipher_of(dialect)
        if value is None or cipher is None:
            return value
        return cipher.blind(self.purpose, value)
