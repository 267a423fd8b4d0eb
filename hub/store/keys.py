"""API tokens: stored as SHA-256 (tokens are 256-bit random, so a plain hash is enough)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.tables import api_keys


class Role(StrEnum):
    ADMIN = "admin"
    FEED = "feed"
    READER = "reader"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    role: Role


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: Connection, *, name: str, role: Role, now: datetime) -> tuple[ApiKey, str]:
    token = "hub_" + secrets.token_urlsafe(32)
    key_id = conn.execute(
        sa.insert(api_keys)
        .values(
            name=name,
            role=role.value,
            token_sha256=token_hash(token),
            prefix=token[:10],
            created_at=now,
        )
        .returning(api_keys.c.id)
    ).scalar_one()
    return ApiKey(int(key_id), name, role), token


def lookup(conn: Connection, token: str) -> ApiKey | None:
    row = conn.execute(
        sa.select(api_keys.c.id, api_keys.c.name, api_keys.c.role).where(
            api_keys.c.token_sha256 == token_hash(token), api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return ApiKey(int(row.id), row.name, Role(row.role)) if row else None


def count_admins(conn: Connection) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(api_keys)
            .where(api_keys.c.role == Role.ADMIN.value, api_keys.c.revoked_at.is_(None))
        ).scalar_one()
    )
