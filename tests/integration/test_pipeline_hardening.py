"""Regression tests for the pipeline bugs fixed while hardening it (one per fix)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from support import pipeline_plugin as plugin
from support.pipeline_plugin import effects, inbound

from hub.bootstrap import Hub
from hub.clock import FixedClock
from hub.config import Settings
from hub.errors import StoreUnavailable
from hub.queue.celery_app import CeleryDispatcher, make_celery
from hub.services.ingest import IngestOutcome
from hub.store import messages as store
from hub.store.lifecycle import Status
from hub.store.tables import attempts

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Recorder:
    """A dispatcher that remembers (the broker's side is tested with real Celery elsewhere)."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None:
        self.sent.append(message_id)


def rows(hub: Hub, table: sa.Table, **where: Any) -> list[Any]:
    with hub.engine.connect() as conn:
        q = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
        return list(conn.execute(q.order_by(table.c.id)))


def test_expired_lease_cannot_apply_twice(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    """Worker A stalls after its lease, the sweeper hands the message to worker B; A must not
    apply it when it wakes up (before the fix both applied and A marked it processed)."""
    clock = FixedClock(T0)
    hub = make_hub(any_db_settings, clock=clock, plugins=[plugin.register], embedded_workers=False)
    mid = hub.ingest.ingest(inbound("L1", 1)).message_id
    lease_a = hub.pipeline._lease("A", message_id=None, lane_key=None)
    assert lease_a is not None
    clock.advance(hub.settings.lease_seconds + 1)
    assert hub.sweeper.sweep()[0] == 1  # A's lease released
    lease_b = hub.pipeline._lease("B", message_id=None, lane_key=None)
    assert lease_b is not None and lease_b[0].id == mid

    late = hub.pipeline._process(*lease_a)
    assert late.status is Status.RECEIVED  # "lost": nothing applied, nothing recorded
    assert hub.pipeline._process(*lease_b).status is Status.PROCESSED
    assert [e.message_id for e in rows(hub, effects)] == [mid]
    assert [(a.worker, a.outcome) for a in rows(hub, attempts, message_id=mid)] == [
        ("A", "abandoned"),
        ("B", "ok"),
    ]


def test_failure_of_a_lost_lease_is_not_recorded(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    clock = FixedClock(T0)
    hub = make_hub(any_db_settings, clock=clock, plugins=[plugin.register], embedded_workers=False)
    mid = hub.ingest.ingest(inbound("L1", 1, mode="perm")).message_id
    lease_a = hub.pipeline._lease("A", message_id=None, lane_key=None)
    assert lease_a is not None
    clock.advance(hub.settings.lease_seconds + 1)
    hub.sweeper.sweep()
    lease_b = hub.pipeline._lease("B", message_id=None, lane_key=None)
    assert lease_b is not None
    hub.pipeline._process(*lease_a)  # A's permanent failure must not fail B's lease
    with hub.uow() as uow:
        assert store.get(uow.conn, mid).status is Status.PROCESSING
    assert hub.pipeline._process(*lease_b).status is Status.FAILED


def test_slow_but_alive_worker_keeps_its_lease(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    """A processor slower than the lease, with the sweeper running: on PostgreSQL the sweeper
    skips the row the worker holds locked, on SQLite it waits for the worker's transaction."""
    settings = any_db_settings.model_copy(update={"lease_seconds": 0.3, "sweep_interval": 0.1})
    hub = make_hub(settings, plugins=[plugin.register], embedded_workers=False)
    mid = hub.ingest.ingest(inbound("L1", 1, mode="sleep:1.2")).message_id
    hub.sweeper.start()
    outcome = hub.pipeline.run_next("slow")
    hub.sweeper.stop()
    assert outcome is not None and outcome.status is Status.PROCESSED
    assert [(a.outcome, a.error_code) for a in rows(hub, attempts, message_id=mid)] == [
        ("ok", None)
    ]
    assert len(rows(hub, effects, message_id=mid)) == 1


def test_drain_lane_hands_a_long_lane_back_and_wakes_a_merge_partner(
    sqlite_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    recorder = Recorder()
    hub = make_hub(
        sqlite_settings, dispatcher=recorder, plugins=[plugin.register], embedded_workers=False
    )
    ids = [hub.ingest.ingest(inbound("A", n)).message_id for n in range(1, 31)]
    recorder.sent.clear()
    assert hub.pipeline.drain_lane("w", ids[0], limit=10) == 10
    assert recorder.sent == [ids[10]]  # the rest of the lane goes to the back of the queue

    merge = hub.ingest.ingest(inbound("B", 1, lane2="C", seq2=1)).message_id
    after = hub.ingest.ingest(inbound("C", 2)).message_id
    recorder.sent.clear()
    assert hub.pipeline.drain_lane("w", merge) == 1  # lane B has nothing more
    assert recorder.sent == [after]  # lane C's next head is woken, not left to the sweeper


def test_disconnect_inside_ingest_is_store_unavailable(
    pg_url: str, make_hub: Callable[..., Hub], tmp_path: Any
) -> None:
    """The connection dies mid-transaction (server restart, network): the driver's error must
    reach the adapter as StoreUnavailable (no ACK), and nothing is stored."""
    hub = make_hub(
        Settings(database_url=pg_url, data_dir=tmp_path),
        plugins=[plugin.register],
        embedded_workers=False,
    )
    killer = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")

    def answer(message_id: int, outcome: IngestOutcome) -> bytes:
        with killer.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state = 'idle in transaction'"
                )
            )
        return b"ACK"

    try:
        with pytest.raises(StoreUnavailable):
            hub.ingest.ingest(inbound("L1", 1), answer)
    finally:
        killer.dispose()
    assert rows(hub, effects) == []
    with hub.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one() == 0


def test_concurrent_ingest_into_one_lane_keeps_commit_order(
    pg_url: str, make_hub: Callable[..., Hub], tmp_path: Any
) -> None:
    """Message 1's transaction is still open when message 2 of the same lane arrives on
    another connection. Without the per-lane lock, 2 got a higher id but committed first and
    a worker took it as the lane head before 1 existed."""
    hub = make_hub(
        Settings(database_url=pg_url, data_dir=tmp_path),
        plugins=[plugin.register],
        embedded_workers=False,
    )
    claimed_meanwhile: list[object] = []

    def slow_answer(message_id: int, outcome: IngestOutcome) -> bytes:
        second = threading.Thread(target=hub.ingest.ingest, args=(inbound("L1", 2),))
        second.start()
        second.join(timeout=0.5)  # it waits on the lane lock (it would commit here without)
        claimed_meanwhile.append(hub.pipeline.run_next("w"))
        threads.append(second)
        return b"ACK"

    threads: list[threading.Thread] = []
    hub.ingest.ingest(inbound("L1", 1), slow_answer)
    for t in threads:
        t.join()
    assert claimed_meanwhile == [None]
    while hub.pipeline.run_next("w") is not None:
        pass
    assert [e.seq for e in rows(hub, effects)] == [1, 2]


@pytest.fixture
def silent_broker() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP server that accepts and never answers: a hung broker."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0", accepted
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_dispatch_to_a_hung_broker_returns_and_backs_off(
    silent_broker: tuple[str, list[socket.socket]],
) -> None:
    """Before the fix a publish to a broker that accepts but never answers blocked forever
    (no socket timeout), so ingest never answered. Now it fails, and dispatches during the
    cooldown do not touch the broker at all (the sweeper re-dispatches later)."""
    url, accepted = silent_broker
    dispatcher = CeleryDispatcher(make_celery(url), cooldown=600)
    done = threading.Event()

    def first() -> None:
        dispatcher.dispatch(1)
        done.set()

    threading.Thread(target=first, daemon=True).start()
    assert done.wait(timeout=60), "dispatch to a silent broker never returned"
    connections = len(accepted)
    assert connections >= 1
    for message_id in range(2, 50):
        dispatcher.dispatch(message_id)
    time.sleep(0.3)
    assert len(accepted) == connections


def test_concurrent_identical_resends_store_once(
    pg_url: str, make_hub: Callable[..., Hub], tmp_path: Any
) -> None:
    """No lane (an unpeekable message): identical bytes arriving on two connections at once
    must still be one message and one duplicate answer, not two stored messages."""
    hub = make_hub(
        Settings(database_url=pg_url, data_dir=tmp_path),
        plugins=[plugin.register],
        embedded_workers=False,
    )
    laneless = replace(inbound("L1", 1), lane_keys=(), patient_refs=())
    outcomes: list[IngestOutcome] = []

    def second() -> None:
        outcomes.append(hub.ingest.ingest(laneless).outcome)

    def slow_answer(message_id: int, outcome: IngestOutcome) -> bytes:
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=0.5)  # it waits on the sha256 lock (it would store here without)
        threads.append(thread)
        return b"ACK"

    threads: list[threading.Thread] = []
    outcomes.append(hub.ingest.ingest(laneless, slow_answer).outcome)
    for t in threads:
        t.join()
    assert sorted(outcomes) == [IngestOutcome.DUPLICATE, IngestOutcome.STORED]
    with hub.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one() == 1


def test_replay_tolerates_repeated_ids(
    sqlite_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    hub = make_hub(sqlite_settings, plugins=[plugin.register], embedded_workers=False)
    mid = hub.ingest.ingest(inbound("L1", 1)).message_id
    assert hub.pipeline.run_next("w") is not None
    assert list(hub.replay.replay([mid, mid], actor="admin")) == [mid]
    assert hub.pipeline.run_next("w") is not None
    assert len(rows(hub, effects, message_id=mid)) == 2


def test_replayed_message_waits_for_its_lanes_running_message(
    any_db_settings: Settings, make_hub: Callable[..., Hub]
) -> None:
    """Replaying message 1 while message 2 of the same lane is mid-processing: 1 becomes the
    lane head again, but must not run beside 2 (one message per lane at a time)."""
    hub = make_hub(any_db_settings, plugins=[plugin.register], embedded_workers=False)
    first = hub.ingest.ingest(inbound("L1", 1)).message_id
    second = hub.ingest.ingest(inbound("L1", 2)).message_id
    assert hub.pipeline.run_next("w") is not None
    running = hub.pipeline._lease("w2", message_id=None, lane_key=None)
    assert running is not None and running[0].id == second
    assert list(hub.replay.replay([first], actor="admin")) == [first]
    assert hub.pipeline.run_next("w3") is None  # lane L1 is busy with message 2
    assert hub.pipeline._process(*running).status is Status.PROCESSED
    outcome = hub.pipeline.run_next("w3")
    assert outcome is not None and outcome.message_id == first
    assert [(e.message_id, e.replay) for e in rows(hub, effects)] == [
        (first, 0),
        (second, 0),
        (first, 1),
    ]
