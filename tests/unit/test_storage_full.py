"""A full disk is told apart from other store failures by the driver's code, never its text."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from hub.errors import StorageFull, StoreUnavailable
from hub.store.db import UnitOfWork, unavailable


@dataclass
class _PgError(Exception):
    sqlstate: str


@pytest.mark.parametrize(
    ("orig", "full"),
    [
        (_PgError("53100"), True),  # disk_full
        (_PgError("57P01"), False),  # admin_shutdown: a restart, not space
        (_PgError("53200"), False),  # out_of_memory
    ],
)
def test_postgres_disk_full_by_sqlstate(orig: Exception, full: bool) -> None:
    err = unavailable(OperationalError("INSERT ...", {}, orig), "commit failed")
    assert isinstance(err, StorageFull) is full
    assert isinstance(err, StoreUnavailable)
    assert err.retryable


def test_sqlite_full_by_result_code() -> None:
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorname = "SQLITE_BUSY"  # type: ignore[attr-defined]
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
    assert type(unavailable(OperationalError("x", {}, busy), "t")) is StoreUnavailable
    assert type(unavailable(OperationalError("x", {}, full), "t")) is StorageFull
    assert unavailable(full, "t").code == "storage_full"


def test_unit_of_work_raises_storage_full_from_a_real_sqlite_full() -> None:
    # max_page_count caps the file: SQLite answers SQLITE_FULL as it would on a full disk
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (b BLOB)")
        conn.exec_driver_sql("PRAGMA max_page_count = 2")
        conn.commit()
    try:
        with pytest.raises(StorageFull), UnitOfWork(engine) as uow:
            uow.conn.exec_driver_sql("INSERT INTO t VALUES (zeroblob(100000))")
            uow.commit()
    finally:
        engine.dispose()
