"""Columns every PM table shares: provenance, version and last change."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, Numeric

from hub.store.message_tables import Id
from hub.store.types import UTCDateTime

Money = Numeric(12, 2)


def provenance() -> list[Column[object]]:
    return [
        Column("source_message_id", Id, ForeignKey("messages.id"), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Column("version", Integer, nullable=False, server_default="1"),
    ]


def versioned() -> list[Column[object]]:
    """Rows of an aggregate's parts, written with their aggregate (claim lines, payments...)."""
    return [
        Column("version", Integer, nullable=False, server_default="1"),
        Column("updated_at", UTCDateTime(), nullable=True),
    ]
