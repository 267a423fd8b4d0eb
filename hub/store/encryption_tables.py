"""The keys the database's sealed values use (docs/adr/0024), by key id, never the keys
themselves: a check value (a known text sealed with the key) lets the hub refuse a wrong key at
start instead of failing row by row, and the state says which key new values use.

States: ``active`` (seals new values), ``rotating`` (the target of an unfinished
``hub keys rotate-encryption``), ``retired`` (no value uses it any more).
"""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary, String, Table

from hub.store.message_tables import metadata
from hub.store.types import UTCDateTime

encryption_keys = Table(
    "encryption_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("check_value", LargeBinary, nullable=False),
    # the search-token key (keyed HMAC for equality search), sealed with this key
    Column("search_key", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("retired_at", UTCDateTime(), nullable=True),
)
