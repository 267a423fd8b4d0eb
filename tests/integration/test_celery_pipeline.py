"""PostgreSQL + Celery + Redis for real: lane order with a 4-process ``hub worker``, a worker
killed with SIGKILL mid-stream, and Redis restarted without persistence mid-stream. Afterwards
every stored message is processed, none applied twice, lanes in order."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from support import pipeline_plugin as plugin
from support.celery_worker import WorkerPool
from support.ordering import (
    assert_each_applied_once,
    assert_killed_leases_abandoned,
    open_attempts,
    processed_count,
    stream,
    wait_until,
)

from hub.bootstrap import Hub
from hub.services.ingest import Inbound, IngestOutcome
from hub.store.tables import attempts, messages

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BROKER_DB = 7  # our own Redis database: other tests use 0
REDIS_PORT = 6379


def redis_start(port: int) -> list[str]:
    return [
        "redis-server",
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
    ]


@pytest.fixture
def broker_url(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + f"/{BROKER_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


def feed_in_background(hub: Hub, messages: list[Inbound]) -> tuple[threading.Thread, list[str]]:
    problems: list[str] = []

    def run() -> None:
        for m in messages:
            try:
                stored = hub.ingest.ingest(m)
            except Exception as exc:  # pragma: no cover - reported by the assertion below
                problems.append(repr(exc))
                return
            if stored.outcome is not IngestOutcome.STORED:
                problems.append(f"{stored.message_id}: {stored.outcome}")

    thread = threading.Thread(target=run, name="feeder")
    thread.start()
    return thread, problems


def finish(
    hub: Hub, pool: WorkerPool, total: int, feeder: threading.Thread, problems: list[str]
) -> None:
    feeder.join()
    assert problems == []
    try:
        wait_until(
            lambda: processed_count(hub.engine) == total, timeout=240, what=f"{total} processed"
        )
    except AssertionError:
        print(pool.logs())
        raise


def test_lane_order_with_celery_worker(producer: Hub, workers: WorkerPool) -> None:
    workers.start(concurrency=4)
    messages = stream(2000, 50, merge_every=50, seed=11)
    feeder, problems = feed_in_background(producer, messages)
    finish(producer, workers, 2000, feeder, problems)
    assert assert_each_applied_once(producer.engine, 2000).merges == 40


def open_slow_attempts(hub: Hub, controls: set[str]) -> bool:
    with hub.engine.connect() as conn:
        return (
            conn.execute(
                sa.select(attempts.c.id)
                .join(messages, messages.c.id == attempts.c.message_id)
                .where(attempts.c.ended_at.is_(None), messages.c.control_id.in_(controls))
            ).first()
            is not None
        )


def test_worker_killed_mid_stream(producer: Hub, workers: WorkerPool) -> None:
    total = 5000
    # A few slow messages around the 30% mark: killing while one of them runs guarantees the
    # kill lands mid-transaction (a fast stream may leave every process between messages).
    slow = dict.fromkeys(range(1400, 1800, 40), "sleep:1")
    stream_ = stream(total, 50, merge_every=100, seed=3, modes=slow)
    slow_controls = {stream_[i].control_id for i in slow}
    first = workers.start(concurrency=4)
    feeder, problems = feed_in_background(producer, stream_)
    wait_until(
        lambda: (
            processed_count(producer.engine) >= total // 4
            and open_slow_attempts(producer, slow_controls)
        ),
        timeout=240,
        what="~30% processed with a slow message in flight",
    )
    workers.kill(first)  # SIGKILL of the worker and its pool processes
    time.sleep(0.5)  # PostgreSQL rolls back the dead connections' open transactions
    in_flight = open_attempts(producer.engine)
    assert in_flight, "nothing was in flight at the kill"
    workers.start(concurrency=4)
    finish(producer, workers, total, feeder, problems)

    assert_each_applied_once(producer.engine, total)
    assert_killed_leases_abandoned(producer.engine, in_flight)


def redis_up(port: int = REDIS_PORT) -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def broker_backlog(broker_url: str) -> int:
    """Tasks the broker holds: queued (the ``hub`` list) or delivered and not yet acknowledged
    (``acks_late``: the ``unacked`` hash). A restart without persistence loses all of them."""
    r = redis.Redis.from_url(broker_url, socket_timeout=2)
    return int(r.llen("hub")) + int(r.hlen("unacked"))


def unprocessed_ids(hub: Hub) -> set[int]:
    with hub.engine.connect() as conn:
        q = sa.select(messages.c.id).where(messages.c.status != "processed")
        return {int(i) for i in conn.execute(q).scalars()}


# What a worker's consumer logs when its broker connection breaks (celery.worker.consumer)
CONNECTION_LOST = "Connection to broker lost"


def test_redis_restart_without_persistence_mid_stream(
    producer: Hub, workers: WorkerPool, broker_url: str
) -> None:
    restart_redis_mid_stream(producer, workers, broker_url, REDIS_PORT)


def restart_redis_mid_stream(
    producer: Hub, workers: WorkerPool, broker_url: str, port: int
) -> None:
    """Kill Redis (no persistence) while the workers are busy and the feeder still ingests;
    prove the restart cut work in flight, then that everything is applied once, in order."""
    total = 2000
    workers.start(concurrency=4)
    try:
        feeder, problems = feed_in_background(producer, stream(total, 50, seed=5))
        wait_until(
            lambda: processed_count(producer.engine) >= total * 3 // 10,
            timeout=240,
            what="30% processed",
        )
        backlog = broker_backlog(broker_url)  # tasks the shutdown below throws away
        subprocess.run(
            ["redis-cli", "-p", str(port), "shutdown", "nosave"],
            check=False,
            capture_output=True,
            timeout=10,
        )
        wait_until(lambda: not redis_up(port), timeout=10, what="Redis to stop")
        cut = unprocessed_ids(producer)  # stored, not yet processed when Redis went down
        time.sleep(1.0)  # ingest goes on meanwhile: dispatches fail fast, messages are stored
        subprocess.run(redis_start(port), check=True, timeout=10)
        wait_until(lambda: redis_up(port), timeout=10, what="Redis to start")
        finish(producer, workers, total, feeder, problems)
    finally:
        if not redis_up(port):
            subprocess.run(redis_start(port), check=False, timeout=10)
    # the restart really interrupted the stream: the broker held tasks it lost, messages were
    # waiting when it went (the feeder may be done by then: ingest outruns processing), and the
    # workers lost their connection (each consumer logs it and reconnects)
    assert backlog > 0, "the broker held no task when Redis went down"
    assert cut, "nothing was waiting when Redis went down: the restart interrupted nothing"
    logs = workers.logs(tail=None)
    assert CONNECTION_LOST in logs, logs[-3000:]
    assert not unprocessed_ids(producer) & cut  # those waiting at the cut were processed after
    assert_each_applied_once(producer.engine, total)


def test_outcomes_retries_and_replay_through_celery(
    pg_url: str, broker_url: str, producer: Hub, tmp_path: Path
) -> None:
    """The single-message guarantees again, with the real worker: retried with backoff then
    processed, failed at once, dead-lettered, resend not reprocessed, replay reprocessed."""
    retry_env = {
        "HUB_RETRY_BASE_DELAY": "0.05",
        "HUB_RETRY_MAX_DELAY": "0.2",
        "HUB_RETRY_MAX_ATTEMPTS": "3",
    }
    pool = WorkerPool(
        database_url=pg_url, broker_url=broker_url, log_dir=tmp_path, extra_env=retry_env
    )
    try:
        pool.start(concurrency=2)
        ok = producer.ingest.ingest(plugin.inbound("A", 1)).message_id
        flaky = producer.ingest.ingest(plugin.inbound("B", 1, mode="transient:3")).message_id
        perm = producer.ingest.ingest(plugin.inbound("C", 1, mode="perm")).message_id
        doomed = producer.ingest.ingest(plugin.inbound("D", 1, mode="transient")).message_id
        final = {ok: "processed", flaky: "processed", perm: "failed", doomed: "dead"}

        def statuses() -> dict[int, str]:
            with producer.engine.connect() as conn:
                return dict(conn.execute(sa.select(messages.c.id, messages.c.status)).all())

        wait_until(lambda: statuses() == final, timeout=120, what=f"final statuses {final}")
        resend = producer.ingest.ingest(plugin.inbound("A", 1))
        assert (resend.outcome, resend.message_id) == (IngestOutcome.DUPLICATE, ok)

        def outcomes(mid: int) -> list[tuple[str, str | None, int]]:
            with producer.engine.connect() as conn:
                return [
                    (a.outcome, a.error_code, a.replay)
                    for a in conn.execute(
                        sa.select(attempts)
                        .where(attempts.c.message_id == mid)
                        .order_by(attempts.c.id)
                    )
                ]

        assert outcomes(flaky) == [("retry", "test_transient", 0)] * 2 + [("ok", None, 0)]
        assert outcomes(perm) == [("failed", "test_permanent", 0)]
        assert outcomes(doomed) == [("retry", "test_transient", 0)] * 2 + [
            ("dead", "test_transient", 0)
        ]

        assert list(producer.replay.replay([ok], actor="admin")) == [ok]
        wait_until(
            lambda: len(outcomes(ok)) == 2 and statuses()[ok] == "processed",
            timeout=60,
            what="replay processed",
        )
        assert outcomes(ok) == [("ok", None, 0), ("ok", None, 1)]
        with producer.engine.connect() as conn:
            applied = conn.execute(
                sa.select(plugin.effects.c.message_id, plugin.effects.c.replay).order_by(
                    plugin.effects.c.id
                )
            ).all()
        assert [tuple(r) for r in applied if r[0] == ok] == [(ok, 0), (ok, 1)]
        assert {r[0] for r in applied} == {ok, flaky}
    except AssertionError:
        print(pool.logs())
        raise
    finally:
        pool.stop_all()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(x) for x in out.stdout.split()]


def test_a_dead_celery_worker_is_started_again(producer: Hub, workers: WorkerPool) -> None:
    """``hub worker`` supervises its Celery worker: when that process dies (here SIGKILL of the
    Celery main process alone; in the wild an "unrecoverable error" on a broker restart), a new
    one is started and the stream goes on, each message applied once."""
    supervisor = workers.start(concurrency=2)
    messages = stream(600, 20, merge_every=0, seed=13)
    for m in messages[:300]:
        producer.ingest.ingest(m)
    wait_until(lambda: processed_count(producer.engine) == 300, timeout=240, what="300 processed")
    (celery_main,) = _children(supervisor.pid)
    pool_children = _children(celery_main)
    os.kill(celery_main, signal.SIGKILL)
    for pid in pool_children:  # as a crash would leave them: orphans that soon exit
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: bool(_children(supervisor.pid)) and _children(supervisor.pid) != [celery_main],
        timeout=60,
        what="a new Celery worker",
    )
    for m in messages[300:]:
        producer.ingest.ingest(m)
    idle = threading.Thread(target=lambda: None)
    idle.start()
    finish(producer, workers, 600, idle, [])
    assert supervisor.poll() is None  # the supervisor itself never stopped
    assert_each_applied_once(producer.engine, 600)


def test_a_worker_stopped_by_an_unrecoverable_error_is_started_again(
    pg_url: str, broker_url: str, producer: Hub, tmp_path: Path
) -> None:
    """Celery stops on an "unrecoverable error" (seen when Redis restarts) and returns
    normally; ``hub worker`` must still see a failure, start a new worker and go on. Here a
    test boot step raises in the first worker only."""
    marker = tmp_path / "crashed"
    pool = WorkerPool(
        database_url=pg_url,
        broker_url=broker_url,
        log_dir=tmp_path,
        extra_env={
            "HUB_PLUGINS": "support.pipeline_plugin:register,support.crash_once:register",
            "HUB_TEST_CRASH_MARKER": str(marker),
        },
    )
    try:
        supervisor = pool.start(concurrency=2)
        wait_until(marker.exists, timeout=60, what="the first worker to crash")
        messages = stream(200, 10, merge_every=0, seed=17)
        for m in messages:
            producer.ingest.ingest(m)
        idle = threading.Thread(target=lambda: None)
        idle.start()
        finish(producer, pool, 200, idle, [])
        assert supervisor.poll() is None  # the supervisor went on after the crash
        logs = pool.logs()
        assert "Unrecoverable error" in logs
        assert "celery worker exited; starting it again" in logs
        assert_each_applied_once(producer.engine, 200)
    finally:
        pool.stop_all()
