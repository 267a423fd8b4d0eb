"""Engine construction and the unit of work.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every transaction
starts with ``BEGIN IMMEDIATE``: a deferred transaction that later wants to write cannot wait for
the lock (SQLITE_BUSY at once), so writers take it up front and queue behind ``busy_timeout``.

Inside one process, SQLite transactions also queue on a Python lock first. SQLite allows one
writer at a time anyway, and its busy handler waits by sleeping (up to 100 ms a try), so threads
that collide on the file lock idle while the database is free; a lock hands over at once. The
lock is first come, first served: with a plain lock the releasing thread still holds the GIL and
takes the lock straight back, and the waiter gets its turn only after a GIL switch interval
(5 ms), a convoy that cut throughput by half when ingest and workers ran together. Other
processes (``hub serve``'s worker processes, a CLI next to it) queue on an exclusive ``flock`` of
the file ``<database>-writer`` taken with that lock, which the kernel hands over on release;
other programs opening the database meet the hub at SQLite's own lock and ``busy_timeout``.

Durability (docs/adr/0011): ``synchronous=FULL``. In WAL mode SQLite then fsyncs the WAL at every
commit, so a transaction whose COMMIT returned (and so every ACK sent after it) survives a power
cut or an OS crash. ``NORMAL`` fsyncs only at checkpoints: still consistent after a crash, but the
last commits before it can vanish. ``HUB_SQLITE_UNSAFE_NORMAL_SYNC`` selects it, for disposable
set-ups only.

Redoable work (docs/adr/0025): a unit of work opened with ``redoable=True`` holds only what the
store can rebuild from what is already durable (the asynchronous workers' leases and applies:
a raw message committed at ingest, processed again after a crash; the outbox relay's background
rounds: events relayed again, their deliveries sent only after a durable lease). It commits
without waiting for the disk: ``synchronous=NORMAL`` for that transaction on SQLite,
``synchronous_commit=off`` on PostgreSQL. Both logs are sequential, so a crash loses at most a
*suffix* of such commits, and the next durable commit (any ingest) flushes every earlier one
with it: what was acknowledged stays durable, and what is lost is a lease or an apply that the
sweeper and the workers redo. Nothing whose result leaves the process at once (an ACK, a
synchronous answer, an audit checkpoint) runs redoable. ``background=True`` is the other way
round: a durable commit taken at redoable priority (the audit sealer's rounds), for work nobody
is waiting on.

Files: the directory holding the database is created 0700 and the database file 0600 before
SQLite opens it; SQLite gives its ``-wal`` and ``-shm`` files the database file's mode. Files
left more open by an earlier version are tightened to 0600 at start.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from hub.errors import StorageFull, StoreUnavailable
from hub.store.postgres import commit_mode, committed_mode, postgres_engine, trusting_fresh

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class FairLock:
    """A reentrant lock handed directly to the longest waiter (FIFO), waking only that one.

    ``path``: also hold an exclusive ``flock`` on that file while owned, so writers in other
    processes (``hub serve``'s worker processes, docs/adr/0026) queue in the kernel, which wakes
    a waiter the moment the lock is released. Without it they met only at SQLite's lock, whose
    busy handler polls with sleeps growing to 100 ms: ingest waited up to a quarter of a second
    behind a worker process that kept taking the lock back.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._guard = threading.Lock()
        self._waiters: collections.deque[tuple[int, threading.Lock]] = collections.deque()
        self._owner: int | None = None
        self._depth = 0
        self._owner_durable = False
        self._path = path
        self._fd: int | None = None
        self._fd_pid = 0
        # durable writers first (see acquire)
        self._durable_guard = threading.Lock()
        self._durable_count = 0
        self._prio: dict[str, int] = {}
        self._prio_pid = 0
        self._priority = path is not None

    def acquire(self, *, durable: bool = True) -> None:
        """``durable=False`` (a redoable or background unit of work: the workers' leases and
        applies, the outbox relay's rounds, the audit sealer) waits
        first until no durable writer of any hub process (an ingest about to ACK) is waiting
        for or holding the lock: with a file, durable writers hold a shared ``flock`` on
        ``<database>-durable`` from the moment they ask, and a redoable one takes it
        exclusively for an instant before it asks. An ACK then waits for at most the one
        worker transaction already running, never for a queue of them."""
        me = threading.get_ident()
        prio = self._priority and self._owner != me  # nested: already ours, no waiting
        if prio and durable:
            self._enter_durable()
        elif prio:
            fd = self._prio_fd("ex")
            fcntl.flock(fd, fcntl.LOCK_EX)
            fcntl.flock(fd, fcntl.LOCK_UN)
        try:
            self._acquire(me)
        except BaseException:
            if prio and durable:
                self._leave_durable()
            raise
        if prio:
            self._owner_durable = durable

    def durable_waiting(self) -> bool:
        """Is a durable writer of any hub process (an ingest about to ACK) waiting for or
        holding the lock now? Non-blocking: a worker holding the lock asks it between units to
        decide whether to commit and let the ACK through (hub.queue.pipeline). Always False
        without a file (no priority to give)."""
        if not self._priority:
            return False
        fd = self._prio_fd("probe")  # its own descriptor: flock locks belong to one
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def _prio_fd(self, kind: str) -> int:
        if self._prio_pid != os.getpid():
            self._prio, self._prio_pid = {}, os.getpid()
        if kind not in self._prio:
            path = f"{self._path}-durable" if self._path is not None else ""
            self._prio[kind] = os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE)
        return self._prio[kind]

    def _enter_durable(self) -> None:
        with self._durable_guard:
            self._durable_count += 1
            if self._durable_count == 1:
                fcntl.flock(self._prio_fd("sh"), fcntl.LOCK_SH)

    def _leave_durable(self) -> None:
        with self._durable_guard:
            self._durable_count -= 1
            if self._durable_count == 0:
                fcntl.flock(self._prio_fd("sh"), fcntl.LOCK_UN)

    def _acquire(self, me: int) -> None:
        gate: threading.Lock | None = None
        with self._guard:
            if self._owner == me:
                self._depth += 1
                return
            if self._owner is None:
                self._owner, self._depth = me, 1
            else:
                gate = threading.Lock()
                gate.acquire()
                self._waiters.append((me, gate))
        if gate is not None:
            gate.acquire()  # the releasing owner made us the owner before opening the gate
        if self._path is not None:
            try:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            except BaseException:
                self._hand_over()
                raise

    def _file(self) -> int:
        # per process: a descriptor inherited across fork shares its lock with the parent
        if self._fd is None or self._fd_pid != os.getpid():
            assert self._path is not None
            self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE)
            self._fd_pid = os.getpid()
        return self._fd

    def release(self) -> None:
        with self._guard:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a lock not held by this thread")
            if self._depth > 1:
                self._depth -= 1
                return
        if self._path is not None and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)  # before the next thread of ours may take it
        durable, self._owner_durable = self._owner_durable, False
        self._hand_over()
        if durable:
            self._leave_durable()

    def _hand_over(self) -> None:
        with self._guard:
            if not self._waiters:
                self._owner, self._depth = None, 0
                return
            self._owner, gate = self._waiters.popleft()
            self._depth = 1
        gate.release()


# One writer lock per SQLite engine (see the module docstring).
_SQLITE_LOCKS: weakref.WeakKeyDictionary[Engine, FairLock] = weakref.WeakKeyDictionary()


def durable_writer_waiting(engine: Engine) -> bool:
    """:meth:`FairLock.durable_waiting` for ``engine``'s writer lock (False on PostgreSQL,
    which has no single writer)."""
    lock = _SQLITE_LOCKS.get(engine)
    return lock is not None and lock.durable_waiting()


def create_engine(url: str, *, pool_size: int = 10, sqlite_unsafe_sync: bool = False) -> Engine:
    """``sqlite_unsafe_sync``: ``synchronous=NORMAL`` (see the module docstring); never default."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, synchronous="NORMAL" if sqlite_unsafe_sync else "FULL")
    return postgres_engine(url, pool_size=pool_size)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) 0700; warn, without changing it, if it exists more open."""
    if not path.exists():
        path.mkdir(parents=True, mode=PRIVATE_DIR, exist_ok=True)
        path.chmod(PRIVATE_DIR)  # mkdir's mode passes through the umask; chmod does not
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        # An existing directory may be shared on purpose (HUB_DATA_DIR=/srv): say it, keep it.
        log.warning(
            "data directory is readable by other users",
            extra={"path": str(path), "mode": oct(mode)},
        )


def create_private_file(path: Path) -> None:
    """Create ``path`` 0600 if missing; tighten it to 0600 if it exists more open."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_FILE)


def _private_sqlite_files(path: Path) -> None:
    try:
        ensure_private_dir(path.parent)
        if not path.is_dir():
            create_private_file(path)
    except OSError:
        return  # unopenable: SQLite says so at first use, as StoreUnavailable (never at start)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists() and side.stat().st_mode & 0o077:
            side.chmod(PRIVATE_FILE)


def _sqlite_engine(url: str, *, synchronous: str) -> Engine:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:"):
        _private_sqlite_files(Path(path))
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
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A read-only unit of work begins deferred: in WAL mode it reads a snapshot and never
        # waits for, or blocks, the writer.
        options = conn.get_execution_options()
        read_only = options.get("hub_read_only", False)
        # on the driver connection: every transaction runs this (see hub.store.prepared)
        driver = conn.connection.driver_connection
        assert driver is not None
        if not read_only:
            # per connection, set only when it changes (pooled connections serve both kinds)
            wanted = "NORMAL" if options.get("hub_redoable", False) else synchronous
            info = conn.connection.info
            if info.get("hub_synchronous", synchronous) != wanted:
                driver.execute(f"PRAGMA synchronous={wanted}")
                info["hub_synchronous"] = wanted
        driver.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

    file_db = bool(path) and path != ":memory:" and not str(path).startswith("file:")
    _SQLITE_LOCKS[engine] = FairLock(Path(f"{path}-writer") if file_db else None)
    return engine


class UnitOfWork:
    """One transaction. Rolls back on exit unless :meth:`commit` was called.

    ``conn`` is the open :class:`Connection`; repositories take it as their first argument.
    ``read_only=True`` is for look-ups that must not queue behind writers (on SQLite it takes
    neither the writer lock nor ``BEGIN IMMEDIATE``); writing in it is a bug. On PostgreSQL it
    runs in autocommit, with no ``BEGIN`` or ``ROLLBACK`` around it: under READ COMMITTED each
    statement took its own snapshot anyway, so a read loses nothing and saves two round trips.
    ``redoable=True`` commits without waiting for the disk (see the module docstring): only for
    work rebuilt from what is already durable; with ``read_only`` it means a read whose failure
    a redo covers (a worker's look for its lane's next head), which may therefore skip the
    PostgreSQL pre-ping (:mod:`hub.store.postgres`). ``background=True``: a durable commit
    that nobody is waiting for (the outbox relay's rounds, the audit sealer): on SQLite it
    takes the writer lock as a redoable unit does, after every waiting ingest and without
    counting as one, so the :func:`durable_writer_waiting` probe it asks between its steps sees
    only others.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        read_only: bool = False,
        redoable: bool = False,
        background: bool = False,
    ) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._committed = False
        self._read_only = read_only
        self._trusting = redoable  # a failure costs a redo: trust a connection just returned
        self._redoable = redoable and not read_only
        self._yields = (redoable or background) and not read_only
        self._lock = None if read_only else _SQLITE_LOCKS.get(engine)
        self._postgres = engine.dialect.name == "postgresql"
        self._mode: bool | None = None  # PostgreSQL: the session's commit mode, once committed

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("unit of work not entered")
        return self._conn

    def __enter__(self) -> UnitOfWork:
        if self._lock is not None:
            self._lock.acquire(durable=not self._yields)
        try:
            if self._trusting:  # a broken connection only costs a redo (hub.store.postgres)
                with trusting_fresh():
                    self._conn = self._engine.connect()
            else:
                self._conn = self._engine.connect()
            if self._read_only and self._postgres:
                # client-side only (psycopg's ``autocommit``); the pool resets it on checkin
                self._conn = self._conn.execution_options(isolation_level="AUTOCOMMIT")
            elif self._read_only:
                self._conn = self._conn.execution_options(hub_read_only=True)
            elif self._redoable:
                self._conn = self._conn.execution_options(hub_redoable=True)
            self._conn.begin()
            if self._postgres and not self._read_only:
                self._mode = commit_mode(self._conn, redoable=self._redoable)
        except DBAPIError as exc:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._release()
            raise unavailable(exc, "database unavailable") from exc
        except BaseException:
            self._release()
            raise
        return self

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def commit(self) -> None:
        try:
            self.conn.commit()
        except DBAPIError as exc:
            raise unavailable(exc, "commit failed") from exc
        self._committed = True
        if self._mode is not None:
            committed_mode(self.conn, self._mode)

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
            self._release()
        if isinstance(exc, (OperationalError, InterfaceError)) and not isinstance(
            exc, StoreUnavailable
        ):
            # A lost connection, a restarting server or SQLite's "database is locked" in the
            # middle of the transaction: callers (ingest, the pipeline) see one transient error,
            # never the driver's, so an adapter can refuse to acknowledge (DESIGN.md section 3).
            raise unavailable(exc, "database unavailable") from exc


UnitOfWorkFactory = Callable[[], UnitOfWork]

# SQLite result code 13 (sqlite.org/rescode.html#full); PostgreSQL SQLSTATE class 53
# "insufficient resources": 53100 disk_full.
_SQLITE_FULL = "SQLITE_FULL"
_PG_DISK_FULL = "53100"


def unavailable(exc: BaseException, text: str) -> StoreUnavailable:
    """The hub's error for a driver error that stopped a transaction: :class:`StorageFull`
    when the disk is full (so the log says why, and that it clears with space), else
    :class:`StoreUnavailable`. Only codes are read: the driver's text may quote a value."""
    orig = getattr(exc, "orig", exc)
    if (
        getattr(orig, "sqlite_errorname", None) == _SQLITE_FULL
        or getattr(orig, "sqlstate", None) == _PG_DISK_FULL
        or getattr(orig, "pgcode", None) == _PG_DISK_FULL
    ):
        return StorageFull("database storage is full; nothing was written")
    return StoreUnavailable(text)


@contextlib.contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A savepoint in the caller's transaction: rolled back (only it) if the block raises.

    Issued on the driver connection, as the hot-path statements are (hub.store.prepared);
    several messages applied in one transaction each get one, so a failing message leaves
    the others' changes in place.
    """
    driver = conn.connection.driver_connection
    assert driver is not None
    cur = driver.cursor()
    try:
        cur.execute("SAVEPOINT hub_item")
        try:
            yield
        except BaseException:
            cur.execute("ROLLBACK TO SAVEPOINT hub_item")
            cur.execute("RELEASE SAVEPOINT hub_item")
            raise
        cur.execute("RELEASE SAVEPOINT hub_item")
    finally:
        cur.close()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
