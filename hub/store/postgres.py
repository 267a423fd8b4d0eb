"""The PostgreSQL engine: when a pooled connection is pinged, and each session's commit mode.

A worker on PostgreSQL waits on the server for most of its time (bench/hl7v2, ADR 0025
addendum 2026-12-05): a message applied through ``hub worker`` is some forty round trips, so
each one that carries no work is worth removing. Two such were paid per transaction:

- **The pre-ping.** SQLAlchemy's ``pool_pre_ping`` sends an empty statement at every checkout
  so that a connection broken by a server restart is replaced before it is used. Here every
  checkout still pings, except inside :func:`trusting_fresh` (the workers' redoable units) when
  the connection came back to the pool less than :data:`FRESH_SECONDS` ago. A redoable unit
  that meets a connection broken in that window fails as a transient error, is rolled back and
  is redone (its lease expires or its attempt is retried): nothing it held was acknowledged.
- **``SET LOCAL synchronous_commit = off``** at the start of each redoable transaction. The
  setting is now made for the session, and only when the unit's kind differs from the
  connection's last *committed* setting (:func:`commit_mode`); a setting made in a transaction
  that rolls back is undone by the server, and the record is written only after a commit, so
  the record never claims more than the session holds. A durable unit on a connection left
  ``off`` sets it back to the server's default before its first statement.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

FRESH_SECONDS = 1.0
_RETURNED = "hub_returned_at"
_NEW = "hub_new_connection"
_SYNC_OFF = "hub_synchronous_commit_off"
_trusting: ContextVar[bool] = ContextVar("hub_trust_fresh_connections", default=False)


@contextlib.contextmanager
def trusting_fresh() -> Iterator[None]:
    """Check out without a ping a connection returned less than :data:`FRESH_SECONDS` ago."""
    token = _trusting.set(True)
    try:
        yield
    finally:
        _trusting.reset(token)


def postgres_engine(url: str, *, pool_size: int) -> Engine:
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        future=True,
        hide_parameters=True,  # SQL parameters carry raw messages (PHI): never log them
    )
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_conn: Any, record: Any) -> None:
        record.info[_NEW] = True  # its first checkout follows at once: nothing to ping

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(_NEW, False):
            return
        returned = record.info.get(_RETURNED)
        if _trusting.get() and returned is not None and time.monotonic() - returned < FRESH_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_conn, None):
                # as pool_pre_ping does: this connection and every older one are replaced
                raise sa.exc.InvalidatePoolError() from exc
            raise

    return engine


def commit_mode(conn: Connection, *, redoable: bool) -> bool | None:
    """Make this transaction commit without waiting for the disk if ``redoable``, else with the
    server's ``synchronous_commit``. Returns the setting to record for the session once the
    transaction commits (:func:`committed_mode`), or None when nothing was changed."""
    if conn.connection.info.get(_SYNC_OFF, False) == redoable:
        return None
    value = "off" if redoable else "DEFAULT"
    conn.exec_driver_sql(f"SET synchronous_commit = {value}")
    return redoable


def committed_mode(conn: Connection, mode: bool) -> None:
    conn.connection.info[_SYNC_OFF] = mode
