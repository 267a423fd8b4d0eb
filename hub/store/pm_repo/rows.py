"""Versioned writes: every PM row change bumps its version and writes one history row.

:func:`write` is the one way a handler inserts or updates a PM row. It compares the values with
the row as read (``old``); when content changes, the row's ``version`` goes up by one (checked
against the version read, so two writers that raced lose nothing: the second gets a retryable
``stale_version``) and a :data:`pm_history` row records the changed fields. When nothing
changes, only the provenance (``source_message_id``, ``updated_at``) is refreshed, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.errors import TransientError
from hub.pm.history import Changed, diff
from hub.store import blind_index
from hub.store.pm_tables import patient_identifiers, patients, pm_history
from hub.store.prepared import run, run_many


@dataclass(frozen=True, slots=True)
class Written:
    """What :func:`write` left in one row (see :attr:`Stamp.written`)."""

    version: int
    updated_at: datetime | None
    inserted: bool
    values: Mapping[str, Any]  # the content columns as written (the row read, then the values)


@dataclass(frozen=True, slots=True)
class Stamp:
    """Who changes PM rows and when: the message being processed, or an actor (a user, a
    service), and the processing time."""

    message_id: int | None
    now: datetime
    actor: str | None = None
    # When set, history rows collect here and are written by one executemany at the end of
    # a batch of changes (:meth:`hub.store.pm_repo.SqlPm.apply_all`): one statement per
    # message instead of one per changed row.
    pending: list[dict[str, Any]] | None = field(default=None, compare=False)
    # Within one batch, the patient ids already found or written, by (facility, MRN): a
    # message's encounter, coverage and appointment need the patient its PID just upserted.
    # Cleared by every change that can move a key (:data:`hub.store.pm_repo.FORGETS_PATIENTS`).
    patients: dict[Any, int] | None = field(default=None, compare=False)
    # When set, what :func:`write` did to each row, by (table name, id): the version it left,
    # the ``updated_at`` it set (None: not touched) and whether it inserted the row. A FHIR
    # write answers with the version and time of the row it wrote without reading them back.
    written: dict[tuple[str, int], Written] | None = field(default=None, compare=False)
    # When set, new patient identifier rows collect here for :func:`flush` (read back, a
    # patient's identifiers are flushed first: :func:`hub.store.pm_repo.patients.upsert_patient`)
    identifiers: list[dict[str, Any]] | None = field(default=None, compare=False)
    # When set, the reference locks this transaction already holds (PostgreSQL): taken for a
    # whole batch of changes at once by :func:`hub.store.pm_repo.references.lock_references`
    locked: set[str] | None = field(default=None, compare=False)

    def update(self) -> dict[str, Any]:
        return {"source_message_id": self.message_id, "updated_at": self.now}

    def insert(self) -> dict[str, Any]:
        return {**self.update(), "created_at": self.now, "version": 1}


def b(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name)


_TERM_SOURCES = blind_index.TERM_SOURCES
_BOOKKEEPING = frozenset({"created_at", "updated_at", "source_message_id"})


def content(table: sa.Table) -> list[sa.Column[Any]]:
    """The columns a write compares (all but provenance): what the finders on the processing
    path read, so they do not convert timestamps nobody compares."""
    return [col for col in table.c if col.name not in _BOOKKEEPING]


# Statements on the processing path are built once, with bind parameters: constructing a Core
# statement (and its cache key) per call cost more than running it (see bench/hl7v2).
@functools.cache
def insert_stmt(table: sa.Table) -> sa.Insert:
    return sa.insert(table).returning(table.c.id)


@functools.cache
def update_stmt(table: sa.Table) -> sa.Update:
    # no .values(): the parameters named like columns become the SET clause
    return sa.update(table).where(table.c.id == b("b_id"), table.c.version == b("b_version"))


@functools.cache
def touch_stmt(table: sa.Table) -> sa.Update:
    return sa.update(table).where(table.c.id == b("b_id"))


_HISTORY = sa.insert(pm_history)
_IDENTIFIER = sa.insert(patient_identifiers)


def history_row(
    table: sa.Table, entity_id: int, version: int, changes: Changed, stamp: Stamp
) -> dict[str, Any]:
    return {
        "entity_type": table.name,
        "entity_id": entity_id,
        "version": version,
        "message_id": stamp.message_id,
        "actor": stamp.actor,
        "changed_at": stamp.now,
        "changes": changes,
    }


def record(conn: Connection, rows: list[dict[str, Any]], stamp: Stamp | None = None) -> None:
    """Write history rows (built with :func:`history_row`), or keep them in the stamp's
    ``pending`` list for :func:`flush`."""
    if stamp is not None and stamp.pending is not None:
        stamp.pending.extend(rows)
    else:
        run_many(conn, _HISTORY, rows)


def flush(conn: Connection, stamp: Stamp) -> None:
    """Write the history rows (and patient identifier rows) a batch collected."""
    if stamp.pending:
        run_many(conn, _HISTORY, stamp.pending)
        stamp.pending.clear()
    flush_identifiers(conn, stamp)


def flush_identifiers(conn: Connection, stamp: Stamp) -> None:
    """Write the patient identifier rows ``stamp`` collected (before anything reads them)."""
    if stamp.identifiers:
        run_many(conn, _IDENTIFIER, stamp.identifiers)
        stamp.identifiers.clear()


def write(
    conn: Connection,
    table: sa.Table,
    old: Mapping[Any, Any] | None,
    values: Mapping[str, Any],
    stamp: Stamp,
    *,
    provenance: bool = True,
) -> int:
    """Insert (``old`` None) or update the row ``old`` with ``values``; returns its id.
    ``provenance`` False is for part rows without ``source_message_id``/``created_at``."""
    stored = blind_index.with_keys(table, values)  # + blind index columns (compared by SQL)
    if old is None:
        extra = stamp.insert() if provenance else {"version": 1, "updated_at": stamp.now}
        new_id = int(run(conn, insert_stmt(table), {**stored, **extra}).scalar_one())
        record(conn, [history_row(table, new_id, 1, diff(None, values), stamp)], stamp)
        _written(stamp, table, new_id, 1, touched=True, values=values, inserted=True)
        if values.keys() & _TERM_SOURCES:
            _index(conn, table, new_id, None, values)
        return new_id
    row_id = int(old["id"])
    changes = diff(old, values)
    touch = stamp.update() if provenance else {"updated_at": stamp.now}
    if not changes:
        if provenance:
            run(conn, touch_stmt(table), {**touch, "b_id": row_id})
        _written(stamp, table, row_id, int(old["version"]), touched=provenance, values=old)
        return row_id
    version = int(old["version"]) + 1
    params = {**stored, **touch, "version": version, "b_id": row_id, "b_version": old["version"]}
    if run(conn, update_stmt(table), params).rowcount != 1:
        raise TransientError(f"{table.name} row changed concurrently", code="stale_version")
    record(conn, [history_row(table, row_id, version, changes, stamp)], stamp)
    _written(stamp, table, row_id, version, touched=True, values={**old, **values})
    if changes.keys() & _TERM_SOURCES:
        _index(conn, table, row_id, old, values)
    return row_id


def _written(
    stamp: Stamp,
    table: sa.Table,
    row_id: int,
    version: int,
    *,
    touched: bool,
    values: Mapping[Any, Any],
    inserted: bool = False,
) -> None:
    """Note in ``stamp.written`` (when kept) what a write left in the row."""
    if stamp.written is None:
        return
    key = (table.name, row_id)
    before = stamp.written.get(key)
    when = stamp.now.astimezone(UTC) if touched else (before.updated_at if before else None)
    was_inserted = inserted or (before is not None and before.inserted)
    stamp.written[key] = Written(version, when, was_inserted, dict(values))


def _index(
    conn: Connection,
    table: sa.Table,
    row_id: int,
    old: Mapping[Any, Any] | None,
    values: Mapping[str, Any],
) -> None:
    """A patient's blind index terms follow its names and birth date (encryption on only)."""
    if table is patients:
        merged = {**({} if old is None else dict(old)), **values}
        blind_index.index_patient(conn, row_id, merged)


def bulk_move(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[Any, Any]],
    values: Mapping[str, Any],
    stamp: Stamp,
) -> None:
    """Set ``values`` on each of ``rows`` (read with id and version), one version and one
    history row each: what a merge or its undo does to the rows it moves."""
    if not rows:
        return
    ids = [int(r["id"]) for r in rows]
    if stamp.written is not None:  # moved here by SQL: what write() knew of them is stale
        for row_id in ids:
            stamp.written.pop((table.name, row_id), None)
    conn.execute(
        sa.update(table)
        .where(table.c.id.in_(ids))
        .values(**values, **stamp.update(), version=table.c.version + 1)
    )
    record(
        conn,
        [
            history_row(table, int(r["id"]), int(r["version"]) + 1, diff(r, values), stamp)
            for r in rows
        ],
        stamp,
    )
