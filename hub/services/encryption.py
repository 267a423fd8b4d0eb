"""Key rotation (``hub keys rotate-encryption``, docs/adr/0024): every sealed column, table by
table in id order, re-sealed with the new key in batches, one transaction a batch.

Resumable by construction: a value already sealed with the new key is skipped, so a run that
was interrupted (Ctrl-C, a crash, a power cut) is finished by running the same command again;
nothing records a cursor that could go stale. The old key is retired only after a pass that
finds nothing left to re-seal, so no value is ever left under a key the hub no longer accepts.
Rotating to the key already in use seals what is still plaintext (turning encryption on for a
database that has data). Each pass also writes the blind indexes (hub/store/blind_index.py) a
row lacks: the key columns beside sealed identifiers and the patients' search terms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.clock import Clock
from hub.config import Settings, parse_key
from hub.errors import ConfigError, Conflict
from hub.store import blind_index, key_registry
from hub.store.crypto import Cipher, column_ad, install, is_sealed, sealed_key_id, text_key_id
from hub.store.crypto_types import SealedDate, SealedJSON, SealedText, SearchKey
from hub.store.db import UnitOfWork, create_engine
from hub.store.migrate import upgrade
from hub.store.pm_tables import patients
from hub.store.tables import messages, metadata

BATCH = 500
MAX_PASSES = 3

Progress = Callable[[str, int, int], None]  # (table, rows done in this table, rows in it)


@dataclass(frozen=True, slots=True)
class Target:
    table: sa.Table
    columns: tuple[sa.Column[Any], ...]
    row_bound: bool  # bytes sealed with the row id in the associated data (messages)
    keys: tuple[tuple[sa.Column[Any], SearchKey], ...] = ()  # blind index columns


def targets() -> list[Target]:
    """Every table with sealed columns, the message store first."""
    found = [Target(messages, (messages.c.raw, messages.c.answer), True)]
    for table in metadata.sorted_tables:
        cols = tuple(c for c in table.c if isinstance(c.type, SealedText | SealedDate | SealedJSON))
        if cols:
            found.append(Target(table, cols, False, tuple(blind_index.search_keys(table))))
    return found


@dataclass
class Outcome:
    resealed: int = 0
    scanned: int = 0
    passes: int = 0


def _stored_key(value: Any) -> str | None:
    """The key id a stored value is sealed with (None: plaintext or NULL)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return sealed_key_id(raw) if is_sealed(raw) else None
    text = str(value)
    return text_key_id(text[1:] if text.startswith('"') else text)


# nothing to seal: SQL NULL, or a JSON column's null (a SealedJSON column stores None as JSON
# null; counting it as plaintext made every pass re-write it and a rotation never finish)
_EMPTY = (None, "null")


def _rows(conn: Connection, target: Target, after: int) -> list[Any]:
    t = target.table
    stored = [
        sa.type_coerce(c, sa.LargeBinary if target.row_bound else sa.Text) for c in target.columns
    ]
    opened = [] if target.row_bound else list(target.columns)
    keys = [sa.type_coerce(c, sa.Text).label(f"k_{c.name}") for c, _kind in target.keys]
    q = (
        sa.select(
            t.c.id,
            *[s.label(f"s_{c.name}") for s, c in zip(stored, target.columns, strict=True)],
            *opened,
            *keys,
        )
        .where(t.c.id > after)
        .order_by(t.c.id)
        .limit(BATCH)
    )
    return list(conn.execute(q))


def _reseal(conn: Connection, cipher: Cipher, target: Target, row: Any) -> bool:
    m = row._mapping
    stale = [
        c
        for c in target.columns
        if m[f"s_{c.name}"] not in _EMPTY and _stored_key(m[f"s_{c.name}"]) != cipher.active_id
    ]
    values: dict[str, Any] = {}
    for c, kind in target.keys:  # a blind index left from before (or under another index key)
        plain = m[kind.source]
        if m[f"k_{c.name}"] != (None if plain is None else cipher.blind(kind.purpose, plain)):
            values[c.name] = plain  # the column type writes its blind index
    terms = target.table is patients and blind_index.index_patient(conn, int(m["id"]), m)
    if not stale and not values:
        return terms
    for c in stale:
        if target.row_bound:
            ad = column_ad(target.table.name, c.name, int(m["id"]))
            values[c.name] = cipher.seal(cipher.open(bytes(m[f"s_{c.name}"]), ad), ad)
        else:
            values[c.name] = m[c.name]  # opened by the column type; sealed again on write
    conn.execute(sa.update(target.table).where(target.table.c.id == m["id"]).values(values))
    return True


def _pass(engine: Engine, cipher: Cipher, progress: Progress | None) -> Outcome:
    out = Outcome(passes=1)
    for target in targets():
        with UnitOfWork(engine, read_only=True) as uow:
            total = int(
                uow.conn.execute(sa.select(sa.func.count()).select_from(target.table)).scalar_one()
            )
        done, after = 0, 0
        while True:
            with UnitOfWork(engine) as uow:
                rows = _rows(uow.conn, target, after)
                if not rows:
                    break
                out.resealed += sum(_reseal(uow.conn, cipher, target, r) for r in rows)
                uow.commit()
            after = int(rows[-1]._mapping["id"])
            done += len(rows)
            out.scanned += len(rows)
            if progress is not None:
                progress(target.table.name, min(done, max(total, done)), max(total, done))
    return out


def rotate(
    engine: Engine,
    old: bytes,
    new: bytes,
    clock: Clock,
    progress: Progress | None = None,
) -> Outcome:
    """Re-seal everything with ``new`` (``old`` is HUB_ENCRYPTION_KEY), then retire ``old``."""
    with UnitOfWork(engine) as uow:
        cipher = key_registry.begin_rotation(uow.conn, old, new, clock.now())
        uow.commit()
    install(engine, cipher)
    total = Outcome()
    for _ in range(MAX_PASSES):
        one = _pass(engine, cipher, progress)
        total.resealed += one.resealed
        total.scanned += one.scanned
        total.passes += 1
        if one.resealed == 0:
            with UnitOfWork(engine) as uow:
                key_registry.finish_rotation(uow.conn, old, new, clock.now())
                uow.commit()
            return total
    raise Conflict(
        f"values were still being sealed with the old key after {MAX_PASSES} passes: stop "
        "`hub serve` and workers, then run the command again (it resumes)",
        code="encryption_rotation_busy",
    )


def sealed_columns() -> Iterator[str]:
    for t in targets():
        for c in t.columns:
            yield f"{t.table.name}.{c.name}"


def rotate_database(
    settings: Settings, new_key: bytes, clock: Clock, progress: Progress | None = None
) -> Outcome:
    """:func:`rotate` on the configured database, from HUB_ENCRYPTION_KEY to ``new_key``."""
    if settings.encryption_key is None:
        raise ConfigError(
            "HUB_ENCRYPTION_KEY must hold the current key (the one being replaced); to turn "
            "encryption on for existing data, set it and give the same variable as the new key",
            code="encryption_key_missing",
        )
    old = parse_key(settings.encryption_key.get_secret_value())
    engine = create_engine(settings.effective_database_url)
    try:
        upgrade(engine)
        return rotate(engine, old, new_key, clock, progress)
    finally:
        engine.dispose()
