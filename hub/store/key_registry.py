"""Which encryption keys the database's sealed values use, checked at start (docs/adr/0024).

The registry (:data:`hub.store.encryption_tables.encryption_keys`) holds, per key id, a check
value (a known text sealed with the key) and the search-token key sealed with it. At start the
configured key must be the one the database says is active, and must open its check value;
anything else is a :class:`~hub.errors.ConfigError` with the reason, before a single row is
read or written. A wrong key is refused, never used to write values nobody can read later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import ConfigError
from hub.store.crypto import Cipher, EncryptionError, column_ad, key_id_of
from hub.store.encryption_tables import encryption_keys as ek

CHECK_TEXT = b"hub encryption key check v1"
ACTIVE, ROTATING, RETIRED = "active", "rotating", "retired"


@dataclass(frozen=True, slots=True)
class Registered:
    key_id: str
    state: str
    check_value: bytes
    search_key: bytes
    created_at: datetime
    retired_at: datetime | None


def registered(conn: Connection) -> list[Registered]:
    rows = conn.execute(sa.select(ek).order_by(ek.c.created_at, ek.c.key_id)).all()
    return [
        Registered(
            r.key_id, r.state, bytes(r.check_value), bytes(r.search_key), r.created_at, r.retired_at
        )
        for r in rows
    ]


def _check_ad(key_id: str) -> bytes:
    return column_ad("encryption_keys", "check_value", None) + f"#{key_id}".encode()


def _search_ad(key_id: str) -> bytes:
    return column_ad("encryption_keys", "search_key", None) + f"#{key_id}".encode()


def _opens(key: bytes, row: Registered) -> bytes:
    """The search key, if ``key`` is the key ``row`` was registered with; else ConfigError."""
    probe = Cipher(key, search_key=b"")
    try:
        if probe.open(row.check_value, _check_ad(row.key_id)) != CHECK_TEXT:
            raise EncryptionError("check value differs", code="encryption_corrupt")
        return probe.open(row.search_key, _search_ad(row.key_id))
    except EncryptionError:
        raise ConfigError(
            f"the encryption key does not open the check value of key id {row.key_id}: "
            "wrong key, or the registry was altered",
            code="encryption_key_wrong",
        ) from None


def register(conn: Connection, key: bytes, state: str, search_key: bytes, now: datetime) -> None:
    kid = key_id_of(key)
    sealer = Cipher(key, search_key=search_key)
    conn.execute(
        sa.insert(ek).values(
            key_id=kid,
            state=state,
            check_value=sealer.seal(CHECK_TEXT, _check_ad(kid)),
            search_key=sealer.seal(search_key, _search_ad(kid)),
            created_at=now,
        )
    )


def _describe(rows: list[Registered]) -> str:
    return ", ".join(f"{r.key_id} ({r.state})" for r in rows)


def open_cipher(conn: Connection, key: bytes | None, now: datetime) -> Cipher | None:
    """The cipher for ``key`` (HUB_ENCRYPTION_KEY), registering it on first use; None when no
    key is set and none is needed. Refuses (ConfigError) a missing, unknown, retired or wrong
    key, and any start while a rotation is unfinished."""
    rows = registered(conn)
    live = [r for r in rows if r.state != RETIRED]
    if key is None:
        if live:
            raise ConfigError(
                "the database holds values sealed with encryption key id "
                f"{_describe(live)}: set HUB_ENCRYPTION_KEY to that key to start (turning "
                "encryption off is not supported: the hub never reads sealed data without its "
                "key; see docs/adr/0024-encryption-at-rest.md)",
                code="encryption_key_missing",
            )
        return None
    kid = key_id_of(key)
    if not rows:
        search_key = os.urandom(32)
        register(conn, key, ACTIVE, search_key, now)
        return Cipher(key, search_key=search_key)
    mine = next((r for r in rows if r.key_id == kid), None)
    if mine is None:
        raise ConfigError(
            f"HUB_ENCRYPTION_KEY (key id {kid}) is not a key of this database; "
            f"its keys: {_describe(live)}",
            code="encryption_key_wrong",
        )
    if mine.state == RETIRED:
        raise ConfigError(
            f"HUB_ENCRYPTION_KEY (key id {kid}) was retired by a key rotation on "
            f"{mine.retired_at:%Y-%m-%d}; the current key is {_describe(live)}",
            code="encryption_key_retired",
        )
    if any(r.state == ROTATING for r in live):
        raise ConfigError(
            f"a key rotation is unfinished (keys {_describe(live)}): run "
            "`hub keys rotate-encryption --new-key-env VAR` again with the same keys to finish it",
            code="encryption_rotation_unfinished",
        )
    return Cipher(key, search_key=_opens(key, mine))


def begin_rotation(conn: Connection, old: bytes, new: bytes, now: datetime) -> Cipher:
    """The cipher that reads both keys and seals with ``new``; registers ``new`` as rotating
    (once: a rerun after an interruption finds it there)."""
    rows = {r.key_id: r for r in registered(conn)}
    old_id, new_id = key_id_of(old), key_id_of(new)
    current = rows.get(old_id)
    if current is None or current.state != ACTIVE:
        state = "not a key of this database" if current is None else current.state
        raise ConfigError(
            f"HUB_ENCRYPTION_KEY (key id {old_id}) must be the active key to rotate from: {state}",
            code="encryption_key_wrong",
        )
    search_key = _opens(old, current)
    target = rows.get(new_id)
    if new_id == old_id:
        return Cipher(new, search_key=search_key)  # seal what is still plaintext
    if target is None:
        others = [r for r in rows.values() if r.state == ROTATING]
        if others:
            raise ConfigError(
                f"another rotation (to key id {others[0].key_id}) is unfinished: finish it first",
                code="encryption_rotation_unfinished",
            )
        register(conn, new, ROTATING, search_key, now)
    elif target.state != ROTATING:
        raise ConfigError(
            f"key id {new_id} is {target.state}: cannot rotate to it", code="encryption_key_wrong"
        )
    else:
        _opens(new, target)
    return Cipher(new, [old], search_key=search_key)


def finish_rotation(conn: Connection, old: bytes, new: bytes, now: datetime) -> None:
    old_id, new_id = key_id_of(old), key_id_of(new)
    if old_id == new_id:
        return
    conn.execute(sa.update(ek).where(ek.c.key_id == old_id).values(state=RETIRED, retired_at=now))
    conn.execute(sa.update(ek).where(ek.c.key_id == new_id).values(state=ACTIVE))


def states(conn: Connection) -> dict[str, Any]:
    return {r.key_id: r.state for r in registered(conn)}
