"""The embedded SQLite store: a durable commit before every ACK (synchronous=FULL in WAL mode) on
every connection the hub uses, and files private to the hub's user (issue 10 items 1 and 4)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from conftest import HubFactory

from hub.config import Settings
from hub.store import audit
from hub.store.db import UnitOfWork

FULL, NORMAL = 2, 1


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _pragmas(conn: sa.Connection) -> tuple[int, str]:
    sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    return int(sync or 0), str(journal)


def test_every_connection_commits_durably(make_hub: HubFactory, tmp_path: Path) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
    # Several units of work open at once: each holds its own pooled connection.
    with (
        UnitOfWork(hub.engine, read_only=True) as a,
        UnitOfWork(hub.engine, read_only=True) as b,
    ):
        assert _pragmas(a.conn) == (FULL, "wal")
        assert _pragmas(b.conn) == (FULL, "wal")
    with hub.uow() as uow:  # the writers' path (ingest, processing, the sealer)
        assert _pragmas(uow.conn) == (FULL, "wal")


def test_the_opt_out_is_named_for_its_risk(make_hub: HubFactory, tmp_path: Path) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "var", sqlite_unsafe_normal_sync=True), plugins=[])
    with hub.uow() as uow:
        assert _pragmas(uow.conn) == (NORMAL, "wal")


def test_data_directory_and_files_are_private(make_hub: HubFactory, tmp_path: Path) -> None:
    data = tmp_path / "var"
    old = os.umask(0o022)  # the usual umask, which made them 0755 / 0644
    try:
        hub = make_hub(Settings(data_dir=data), plugins=[])
        with hub.uow() as uow:  # a write: SQLite creates -wal and -shm
            uow.conn.exec_driver_sql("CREATE TABLE probe (x)")
            uow.commit()
            audit.append(uow.conn, at=datetime.now(UTC), actor="t", action="t")
            uow.commit()
        assert hub.audit is not None
        hub.audit.seal_pending()
        assert hub.audit.checkpoint() is not None
        files = [
            data / "hub.db",
            data / "hub.db-wal",
            data / "hub.db-shm",
            data / "audit" / "audit.key",
            data / "audit" / "checkpoints.log",
        ]
        assert {str(p.relative_to(data)): _mode(p) for p in files} == {
            str(p.relative_to(data)): 0o600 for p in files
        }
        assert _mode(data) == 0o700 and _mode(data / "audit") == 0o700
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_tightened(
    make_hub: HubFactory, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    make_hub(Settings(data_dir=data), plugins=[]).stop()
    (data / "hub.db").chmod(0o644)
    make_hub(Settings(data_dir=data), plugins=[])
    assert _mode(data / "hub.db") == 0o600
