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


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as ``hub keys list`` shows it: never the token, only its first characters."""

    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def list_keys(conn: Connection, *, include_revoked: bool = True) -> list[KeyInfo]:
    c = api_keys.c
    q = sa.select(c.id, c.name, c.role, c.prefix, c.created_at, c.revoked_at).order_by(c.id)
    if not include_revoked:
        q = q.where(c.revoked_at.is_(None))
    return [
        KeyInfo(int(r.id), r.name, Role(r.role), r.prefix, r.created_at, r.revoked_at)
        for r in conn.execute(q)
    ]


def get_key(conn: Connection, key_id: int) -> KeyInfo | None:
    return next((k for k in list_keys(conn) if k.id == key_id), None) if key_id > 0 else None


def revoke(conn: Connection, key_id: int, *, now: datetime) -> bool:
    """Revoke an active key; False if it was already revoked (or never existed)."""
    result = conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def active_by_id(conn: Connection, key_id: int) -> ApiKey | None:
    """The key with this id if it is not revoked (a console session re-checks it per request)."""
    if not 0 < key_id < 2**63:
        return None
    row = conn.execute(
        sa.select(api_keys.c.id, api_keys.c.name, api_keys.c.role).where(
            api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return ApiKey(int(row.id), row.name, Role(row.role)) if row else None
