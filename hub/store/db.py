"""Engine construction and the unit of work.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every transaction
starts with ``BEGIN IMMEDIATE``: a deferred transaction that later wants to write cannot wait for
the lock (SQLITE_BUSY at once), so writers take it up front and queue behind ``busy_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from hub.errors import StoreUnavailable


def create_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        future=True,
        hide_parameters=True,  # SQL parameters carry raw messages (PHI): never log them
    )


def _sqlite_engine(url: str) -> Engine:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20,
        max_overflow=20,
        hide_parameters=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class UnitOfWork:
    """One transaction. Rolls back on exit unless :meth:`commit` was called.

    ``conn`` is the open :class:`Connection`; repositories take it as their first argument.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._committed = False

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("unit of work not entered")
        return self._conn

    def __enter__(self) -> UnitOfWork:
        try:
            self._conn = self._engine.connect()
            self._conn.begin()
        except DBAPIError as exc:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise StoreUnavailable("database unavailable") from exc
        return self

    def commit(self) -> None:
        try:
            self.conn.commit()
        except DBAPIError as exc:
            raise StoreUnavailable("commit failed") from exc
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        self._conn = None
        if conn is None:
            return
        try:
            if not self._committed:
                conn.rollback()
        except DBAPIError:
            pass  # the connection is gone; closing it below returns nothing to the pool
        finally:
            conn.close()
        if isinstance(exc, (OperationalError, InterfaceError)) and not isinstance(
            exc, StoreUnavailable
        ):
            # A lost connection, a restarting server or SQLite's "database is locked" in the
            # middle of the transaction: callers (ingest, the pipeline) see one transient error,
            # never the driver's, so an adapter can refuse to acknowledge (DESIGN.md section 3).
            raise StoreUnavailable("database unavailable") from exc


UnitOfWorkFactory = Callable[[], UnitOfWork]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
