"""The embedded default (SQLite, in-process workers applying batches) killed mid-stream:
``hub serve`` gets SIGKILL while a batch is being applied, is started again, and every stored
message is applied exactly once, in lane order; the killed leases are recorded as abandoned."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import pipeline_plugin as plugin
from support.ordering import (
    assert_each_applied_once,
    assert_killed_leases_abandoned,
    open_attempts,
    stream,
    wait_until,
)
from support.serve_process import Serve

from hub.bootstrap import Hub
from hub.config import Settings
from hub.services.ingest import IngestOutcome
from hub.store.db import UnitOfWork
from hub.store.tables import attempts, messages

pytestmark = pytest.mark.integration


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path / "var", tmp_path)
    yield s
    s.stop_all()


@pytest.fixture
def producer(tmp_path: Path, make_hub: Callable[..., Hub]) -> Hub:
    # Ingest from this process into the same SQLite file, as `hub send` traffic would land.
    return make_hub(
        Settings(data_dir=tmp_path / "var"), plugins=[plugin.register], embedded_workers=False
    )


def _slow_running(hub: Hub, controls: set[str]) -> bool:
    with UnitOfWork(hub.engine, read_only=True) as ro:
        q = (
            sa.select(attempts.c.id)
            .join(messages, messages.c.id == attempts.c.message_id)
            .where(attempts.c.ended_at.is_(None), messages.c.control_id.in_(controls))
        )
        return ro.conn.execute(q).first() is not None


def _processed(hub: Hub) -> int:
    # a read-only snapshot: polling from this process must not take SQLite's writer lock
    with UnitOfWork(hub.engine, read_only=True) as ro:
        q = sa.select(sa.func.count()).where(messages.c.status == "processed")
        return int(ro.conn.execute(q).scalar_one())


def test_serve_killed_mid_batch_applies_everything_once(producer: Hub, serve: Serve) -> None:
    total = 1500
    # slow messages spread out: the kill lands while a batch holding one is being applied
    slow = dict.fromkeys(range(300, 700, 25), "sleep:0.5")
    messages_ = stream(total, 30, merge_every=75, seed=11, modes=slow)
    slow_controls = {messages_[i].control_id for i in slow}
    # Stored (acknowledged) before the hub starts: a backlog after an outage. Feeding from
    # this process while `hub serve` runs would make two processes take turns at SQLite's
    # file lock, which is not how the embedded hub is fed (its own listeners ingest).
    for m in messages_:
        assert producer.ingest.ingest(m).outcome is IngestOutcome.STORED
    first = serve.start()
    try:
        wait_until(
            lambda: _slow_running(producer, slow_controls),
            timeout=180,
            what="a batch with a slow message in flight",
        )
        assert 0 < _processed(producer) < total
        os.killpg(first.pid, signal.SIGKILL)  # the whole hub process, mid-transaction
        first.wait()
        in_flight = open_attempts(producer.engine)
        assert in_flight, "nothing was in flight at the kill"
        serve.start()
        wait_until(lambda: _processed(producer) == total, timeout=240, what="all processed")
    except AssertionError:
        print(serve.logs())
        raise
    assert_each_applied_once(producer.engine, total)
    assert_killed_leases_abandoned(producer.engine, in_flight)
