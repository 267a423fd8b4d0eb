"""The embedded default (SQLite, in-process workers applying batches) killed mid-stream:
``hub serve`` gets SIGKILL while a batch is being applied, is started again, and every stored
message is applied exactly once, in lane order; the killed claims are recorded as abandoned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import free_port
from support import pipeline_plugin as plugin
from support.ordering import check, stream, wait_until

from hub.bootstrap import Hub
from hub.config import Settings
from hub.services.ingest import IngestOutcome
from hub.store.db import UnitOfWork
from hub.store.tables import attempts, messages

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
HUB = str(Path(sys.executable).with_name("hub"))


class Serve:
    """``hub serve`` processes on one data directory, each in its own session."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_DATA_DIR=str(self.data_dir),
            HUB_HTTP_PORT=str(free_port()),
            HUB_MLLP_PORT=str(free_port()),
            HUB_PLUGINS="support.pipeline_plugin:register",
            HUB_LEASE_SECONDS="2",
            HUB_SWEEP_INTERVAL="0.2",
            HUB_LOG_LEVEL="WARNING",
            PYTHONPATH=str(REPO / "tests"),
        )
        log = (self.log_dir / f"serve-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [HUB, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_dir.glob("serve-*.log"))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


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


def _open_attempts(hub: Hub) -> set[int]:
    with UnitOfWork(hub.engine, read_only=True) as ro:
        q = sa.select(attempts.c.id).where(attempts.c.ended_at.is_(None))
        return {int(r.id) for r in ro.conn.execute(q)}


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
        in_flight = _open_attempts(producer)
        assert in_flight, "nothing was in flight at the kill"
        serve.start()
        wait_until(lambda: _processed(producer) == total, timeout=240, what="all processed")
    except AssertionError:
        print(serve.logs())
        raise
    report = check(producer.engine)
    assert report.stored == report.applied == total
    assert report.applied_twice == report.never_applied == report.unprocessed == 0
    assert report.order_violations == 0
    with producer.engine.connect() as conn:
        killed = conn.execute(sa.select(attempts).where(attempts.c.id.in_(in_flight))).all()
    assert {(a.outcome, a.error_code) for a in killed} == {("abandoned", "lease_expired")}
    assert _open_attempts(producer) == set()
