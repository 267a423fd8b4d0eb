"""Signed checkpoints of the audit chain, kept in the database and in a file outside it.

A checkpoint is HMAC-SHA256, keyed with ``HUB_AUDIT_KEY``, over (last sealed seq, its hash, the
time). Someone who can write the database but does not hold the key can recompute the whole
chain with the public algorithm (:func:`hub.store.audit_chain.digest`), but cannot sign a
checkpoint that agrees with it, and cannot reach the append-only file
(``$HUB_DATA_DIR/audit/checkpoints.log`` by default, one JSON object a line, fsync'd). Deleting
the database's checkpoints leaves the file's, and the other way round.

Without ``HUB_AUDIT_KEY`` a random key is generated on first start into
``$HUB_DATA_DIR/audit/audit.key`` (0600, directory 0700) and the log says so: that key protects
against someone who can reach the database only. Hubs sharing one database must share the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import ConfigError
from hub.store.db import PRIVATE_FILE, create_private_file, ensure_private_dir
from hub.store.tables import audit_checkpoints

log = logging.getLogger(__name__)

_DOMAIN = "hub-audit-checkpoint-v1"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    at: datetime
    key_id: str
    mac: str

    def as_json(self) -> str:
        return json.dumps(
            {
                "seq": self.seq,
                "hash": self.hash,
                "at": self.at.isoformat(),
                "key_id": self.key_id,
                "mac": self.mac,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class AuditKey:
    secret: bytes

    @property
    def key_id(self) -> str:
        """Names the key in each checkpoint (so a foreign key is told apart from a forgery)."""
        return hashlib.sha256(b"key-id:" + self.secret).hexdigest()[:16]

    def _mac(self, seq: int, tip_hash: str, at: datetime) -> str:
        msg = f"{_DOMAIN}|{seq}|{tip_hash}|{at.isoformat()}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()

    def sign(self, seq: int, tip_hash: str, at: datetime) -> Checkpoint:
        at = at.astimezone(UTC)
        return Checkpoint(seq, tip_hash, at, self.key_id, self._mac(seq, tip_hash, at))

    def valid(self, cp: Checkpoint) -> bool:
        return hmac.compare_digest(cp.mac, self._mac(cp.seq, cp.hash, cp.at))


def load_key(configured: str | None, key_file: Path) -> AuditKey:
    """``HUB_AUDIT_KEY`` if set; else the key file, generated (0600) on first use."""
    if configured:
        if len(configured) < 16:
            raise ConfigError("HUB_AUDIT_KEY: use at least 16 characters (32 random bytes, hex)")
        return AuditKey(configured.encode())
    if key_file.exists():
        text = key_file.read_text().strip()
        if len(text) < 16:
            raise ConfigError(f"audit key file {key_file} is empty or too short")
        return AuditKey(text.encode())
    ensure_private_dir(key_file.parent)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
        f.flush()
        os.fsync(f.fileno())
    log.warning(
        "HUB_AUDIT_KEY is not set: generated an audit checkpoint key; keep a copy elsewhere, "
        "or set HUB_AUDIT_KEY (the same on every hub sharing this database)",
        extra={"path": str(key_file)},
    )
    return AuditKey(key_file.read_text().strip().encode())


class CheckpointFile:
    """The append-only checkpoint file outside the database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, cp: Checkpoint) -> None:
        ensure_private_dir(self.path.parent)
        create_private_file(self.path)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (cp.as_json() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> tuple[list[Checkpoint], list[int]]:
        """Checkpoints, and the numbers of lines that are not checkpoints (damage)."""
        if not self.path.exists():
            return [], []
        found: list[Checkpoint] = []
        bad: list[int] = []
        for n, line in enumerate(self.path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                found.append(
                    Checkpoint(
                        int(d["seq"]),
                        str(d["hash"]),
                        datetime.fromisoformat(d["at"]),
                        str(d["key_id"]),
                        str(d["mac"]),
                    )
                )
            except (ValueError, KeyError, TypeError):
                bad.append(n)
        return found, bad


def db_checkpoints(conn: Connection) -> list[Checkpoint]:
    t = audit_checkpoints.c
    rows = conn.execute(sa.select(t.seq, t.hash, t.at, t.key_id, t.mac).order_by(t.id))
    return [Checkpoint(int(r.seq), str(r.hash), r.at, str(r.key_id), str(r.mac)) for r in rows]


def last_db_checkpoint_seq(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(audit_checkpoints.c.seq))).scalar() or 0)


def insert_checkpoint(conn: Connection, cp: Checkpoint) -> None:
    conn.execute(
        sa.insert(audit_checkpoints).values(
            seq=cp.seq, hash=cp.hash, at=cp.at, key_id=cp.key_id, mac=cp.mac
        )
    )
