"""Which transactions wait for the disk (ADR 0025): ingest and the synchronous path commit
durably; the asynchronous workers' leases and applies, rebuilt from durable raw messages after a
crash, commit without waiting (SQLite ``synchronous=NORMAL``, PostgreSQL
``synchronous_commit=off``), on the same pooled connections as everything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HubFactory
from sqlalchemy.engine import Connection
from support.plugins import simple_plugin

from hub.bootstrap import Hub
from hub.config import Settings
from hub.pm.events import PmEntityChanged
from hub.queue.outbox import EventContext, Fanout
from hub.queue.registry import ProcessContext
from hub.services.ingest import Inbound
from hub.store.db import UnitOfWork
from hub.store.outbox import emit

FULL, NORMAL = 2, 1


def _sync_level(conn: Connection) -> str:
    if conn.dialect.name == "sqlite":
        return str(conn.exec_driver_sql("PRAGMA synchronous").scalar())
    return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())


def _recording_hub(make_hub: HubFactory, settings: Settings) -> tuple[Hub, dict[str, str]]:
    seen: dict[str, str] = {}

    def process(ctx: ProcessContext) -> None:
        seen[ctx.message.raw.decode()] = _sync_level(ctx.conn)

    hub = make_hub(settings, plugins=[simple_plugin("probe", process)])
    return hub, seen


def test_sqlite_pooled_connection_switches_per_transaction(
    make_hub: HubFactory, tmp_path: Path
) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
    levels = []
    for redoable in (False, True, False, True, False):
        with UnitOfWork(hub.engine, redoable=redoable) as uow:
            levels.append(int(uow.conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0))
    assert levels == [FULL, NORMAL, FULL, NORMAL, FULL]
    # read-only snapshots neither write nor change the setting
    with UnitOfWork(hub.engine, read_only=True, redoable=True) as ro:
        assert int(ro.conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0) == FULL


def test_the_opt_out_stays_normal_everywhere(make_hub: HubFactory, tmp_path: Path) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "var", sqlite_unsafe_normal_sync=True), plugins=[])
    for redoable in (False, True, False):
        with UnitOfWork(hub.engine, redoable=redoable) as uow:
            assert int(uow.conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0) == NORMAL


@pytest.mark.integration
def test_postgresql_redoable_commits_do_not_wait(make_hub: HubFactory, pg_url: str) -> None:
    hub = make_hub(Settings(database_url=pg_url), plugins=[])
    for redoable, expected in ((True, "off"), (False, "on"), (True, "off"), (False, "on")):
        with UnitOfWork(hub.engine, redoable=redoable) as uow:
            assert _sync_level(uow.conn) == expected
            uow.commit()


def test_workers_apply_redoably_and_the_synchronous_path_durably(
    make_hub: HubFactory, tmp_path: Path
) -> None:
    hub, seen = _recording_hub(make_hub, Settings(data_dir=tmp_path / "var"))
    receiver = hub.receiver("probe")
    receiver.handle(b"queued-1")
    receiver.handle(b"queued-2")
    assert hub.pipeline.run_batch("w", limit=8)
    assert seen == {"queued-1": str(NORMAL), "queued-2": str(NORMAL)}
    result = hub.synchronous.submit(Inbound(protocol="probe", raw=b"answered"))
    assert result.outcome.value == "processed"
    assert seen["answered"] == str(FULL)
    # ingest itself (what an ACK promises) stays durable on the same pool afterwards
    with hub.uow() as uow:
        assert int(uow.conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0) == FULL


def test_sqlite_background_work_commits_durably_and_does_not_count_as_an_ingest(
    make_hub: HubFactory, tmp_path: Path
) -> None:
    """A ``background=True`` unit (the audit sealer's rounds) waits for the disk like ingest,
    but takes the writer lock as redoable work does: inside it, the probe that asks whether an
    ingest waits says no. A durable unit counts itself, so a round that asked from inside one
    would end after every step."""
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
    seen = []
    for kind in ({}, {"background": True}, {"redoable": True}):
        with UnitOfWork(hub.engine, **kind) as uow:
            level = int(uow.conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
            seen.append((level, hub.pipeline.writer_wanted()))
    assert seen == [(FULL, True), (FULL, False), (NORMAL, False)]


@pytest.mark.integration
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_the_relay_rounds_are_redoable_and_relay_through_is_durable(
    make_hub: HubFactory, tmp_path: Path, request: pytest.FixtureRequest, db: str
) -> None:
    """ADR 0025 addendum: a background round's deliveries leave only after the delivery
    worker's durable lease, so the round need not wait for the disk; the synchronous path's
    own event (``relay_through``) answers a caller and stays durable."""
    if db == "sqlite":
        hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
        redo, durable = str(NORMAL), str(FULL)
    else:
        hub = make_hub(Settings(database_url=request.getfixturevalue("pg_url")), plugins=[])
        redo, durable = "off", "on"
    seen: dict[int, str] = {}

    def record(event: object, ctx: EventContext) -> Fanout:
        seen[ctx.outbox_id] = _sync_level(ctx.conn)
        return Fanout()

    hub.outbox.subscribe("probe", record)
    with hub.uow() as uow:
        now = hub.clock.now()
        ids = [
            emit(uow.conn, PmEntityChanged(entity_type="patients", entity_id=n, version=1), now=now)
            for n in (1, 2)
        ]
        uow.commit()
    hub.outbox.relay_through(ids[0])
    assert hub.outbox.run_until_idle() == 1
    assert seen == {ids[0]: durable, ids[1]: redo}
