"""Leases on the embedded store: read-only look-ups never queue behind the writer, and a retry
that has fallen due is leased before newer messages of other lanes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from conftest import HubFactory
from support.plugins import simple_plugin

from hub.clock import FixedClock
from hub.config import Settings
from hub.errors import TransientError
from hub.queue.registry import ProcessContext
from hub.services.ingest import Inbound
from hub.store.db import UnitOfWork
from hub.store.lifecycle import Status


def test_read_only_unit_of_work_does_not_wait_for_the_writer(
    make_hub: HubFactory, tmp_path: Path
) -> None:
    hub = make_hub(Settings(data_dir=tmp_path / "var"), plugins=[])
    read_done = threading.Event()
    with hub.uow():  # a writer holds the lock (and SQLite's write lock) ...

        def reader() -> None:
            with UnitOfWork(hub.engine, read_only=True) as ro:
                ro.conn.exec_driver_sql("SELECT count(*) FROM messages").scalar()
            read_done.set()

        t = threading.Thread(target=reader)
        t.start()
        # ... and a read-only look-up still completes while it is held
        assert read_done.wait(5)
    t.join(5)


def test_a_due_retry_is_leased_before_newer_messages(make_hub: HubFactory, tmp_path: Path) -> None:
    fail_once = {"first": True}

    def processor(ctx: ProcessContext) -> None:
        if ctx.message.control_id == "R" and fail_once["first"]:
            fail_once["first"] = False
            raise TransientError("receiver busy")

    clock = FixedClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    hub = make_hub(
        Settings(data_dir=tmp_path / "var", retry_base_delay=0.01, retry_max_delay=0.01),
        plugins=[simple_plugin("test", processor)],
        clock=clock,
    )
    retried = hub.ingest.ingest(
        Inbound(protocol="test", raw=b"r", control_id="R", lane_keys=("A",))
    )
    first = hub.pipeline.run_next("w")
    assert first is not None and first.status is Status.RETRYING
    newer = [
        hub.ingest.ingest(Inbound(protocol="test", raw=b"n%d" % i, lane_keys=(f"L{i}",))).message_id
        for i in range(3)
    ]
    assert hub.pipeline.run_next("w") is not None  # not yet due: a newer message goes first
    clock.advance(1)  # now the retry is due, and goes before the remaining newer ones
    order = [o.message_id for o in iter(lambda: hub.pipeline.run_next("w"), None)]
    assert order == [retried.message_id, *newer[1:]]
