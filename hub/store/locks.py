"""Transaction-scoped advisory locks on PostgreSQL (SQLite's BEGIN IMMEDIATE already
serialises every writer, so there they are no-ops).

Used where two transactions must not both decide "it is not there yet" from snapshots that
cannot see each other: inserts into one lane (:func:`hub.store.lanes.lock_lanes`), duplicate
checks at ingest, and shared reference rows (providers, locations, payers) that messages of
different patients create on first sight (:mod:`hub.store.pm_repo`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.prepared import run

_ADVISORY_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")
# many keys in one round trip: a function scan yields the array's elements in order, and each
# row's lock is taken as that row is produced, so the sorted order still holds
_ADVISORY_LOCKS = sa.text(
    "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0)))"
    " FROM unnest(CAST(:ks AS text[])) AS k"
)


def lock_keys(conn: Connection, *keys: str | None) -> None:
    """Hold a lock per key until the caller's transaction ends. Keys are taken in sorted order,
    so callers that pass all their keys at once never deadlock each other."""
    if conn.dialect.name != "postgresql":
        return
    ordered = sorted({k[:300] for k in keys if k})
    if len(ordered) == 1:
        run(conn, _ADVISORY_LOCK, {"k": ordered[0]})
    elif ordered:
        run(conn, _ADVISORY_LOCKS, {"ks": ordered})
