"""PostgreSQL restarted under load: nothing acknowledged is lost, nothing is applied twice.

1. ``hub serve`` on PostgreSQL with in-process workers, four EHR senders on real MLLP
   connections. While the database restarts, a message that cannot be stored gets no ACK (the
   connection is closed) and the sender sends it again, as an EHR does. Afterwards every
   message has exactly one AA and one stored row, all are processed, each patient ends with
   the name of the last update sent for them (lane order held), and the listener still serves.
2. ``hub worker`` (Celery, Redis) processing while PostgreSQL restarts, fed through the ingest
   service, which retries what it could not store (its second half paced across the restart):
   each stored message applied exactly once, every lane in order, the interrupted leases
   recovered by the sweeper.

All people and identifiers are synthetic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from support.celery_worker import WorkerPool
from support.ehr_senders import (
    Sender,
    acknowledged,
    adt,
    assert_nothing_lost,
    plan,
    port_open,
    processed,
)
from support.ordering import (
    assert_each_applied_once,
    processed_count,
    stream,
    wait_until,
)
from support.serve_process import Serve
from support.services import need_postgresql_restart, restart_postgresql

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.transport.mllp_client import MllpClient
from hub.bootstrap import Hub
from hub.services.ingest import Inbound, IngestOutcome

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def probe(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url, pool_pre_ping=True)
    yield engine
    engine.dispose()


def test_serve_over_mllp_survives_a_database_restart(
    pg_url: str, probe: sa.Engine, tmp_path: Path
) -> None:
    need_postgresql_restart()
    serve = Serve(tmp_path / "var", tmp_path, extra_env={"HUB_DATABASE_URL": pg_url})
    plans, last_name = plan(senders=4, patients_each=5, updates=30)
    total = sum(len(p) for p in plans)
    proc = serve.start()
    senders = [Sender(lambda: serve.mllp_port, items) for items in plans]
    try:
        wait_until(lambda: port_open(serve.mllp_port), timeout=60, what="the MLLP listener")
        for s in senders:
            s.start()
        wait_until(lambda: acknowledged(senders) >= total // 4, timeout=120, what="a quarter")
        restart_postgresql(pg_url)
        for s in senders:
            s.join(300)
        assert sum(s.unanswered for s in senders) > 0, "the restart interrupted no message"
        wait_until(lambda: processed(probe) == total, timeout=240, what="all processed")
        # the listener outlived the outage: a new connection is answered too
        with MllpClient("127.0.0.1", serve.mllp_port) as client:
            assert parse_ack(client.send(adt("CAFTER", "R9999", "Late", "A04"))).code == "AA"
        wait_until(lambda: processed(probe) == total + 1, timeout=60, what="the late one")
        assert proc.poll() is None
    except AssertionError:
        print(serve.logs())
        raise
    finally:
        serve.stop_all()
    assert_nothing_lost(probe, senders, last_name, extra=1)


@pytest.fixture
def broker_url(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + "/8"  # our own Redis database
    redis.Redis.from_url(url).flushdb()
    return url


def test_celery_workers_survive_a_database_restart(
    pg_url: str, producer: Hub, workers: WorkerPool
) -> None:
    need_postgresql_restart()
    total = 2000
    refused: list[int] = []
    problems: list[str] = []
    restarting = threading.Event()

    def feed(items: list[Inbound]) -> None:
        for n, m in enumerate(items):
            if n == total // 2:
                # hold the second half until the restart begins, then feed it paced (over
                # three seconds at least), so the restart lands while messages still arrive:
                # unpaced, 2,000 ingests can all be stored before a quarter is processed
                restarting.wait(240)
            if n >= total // 2:
                time.sleep(0.003)
            deadline = time.monotonic() + 120
            while True:
                try:
                    outcome = producer.ingest.ingest(m).outcome
                    break
                except Exception:  # the store is down: no answer, the sender sends it again
                    refused.append(1)
                    if time.monotonic() > deadline:
                        problems.append(f"{m.control_id}: never stored")
                        return
                    time.sleep(0.2)
            # DUPLICATE: the commit landed but its answer was lost; the resend gets the original
            if outcome not in (IngestOutcome.STORED, IngestOutcome.DUPLICATE):
                problems.append(f"{m.control_id}: {outcome}")

    try:
        workers.start(concurrency=4)
        feeder = threading.Thread(target=feed, args=(stream(total, 40, seed=23),))
        feeder.start()
        wait_until(
            lambda: processed_count(producer.engine) >= total // 4,
            timeout=240,
            what="a quarter processed",
        )
        restarting.set()
        restart_postgresql(pg_url)
        feeder.join(300)
        assert problems == []
        assert refused, "the restart refused no message"
        wait_until(
            lambda: processed_count(producer.engine) == total, timeout=240, what="all processed"
        )
    except AssertionError:
        print(workers.logs())
        raise
    finally:
        restarting.set()  # a failed wait must not leave the feeder parked
    assert_each_applied_once(producer.engine, total)
