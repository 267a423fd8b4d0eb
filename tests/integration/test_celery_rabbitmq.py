"""RabbitMQ as the broker (``HUB_BROKER_URL=amqp://...``), which the README offers beside
Redis: a 4-process ``hub worker`` keeps every lane in order, and RabbitMQ stopped and started
again mid-stream (all connections cut, dispatches refused meanwhile) loses nothing and applies
nothing twice. PostgreSQL is the store."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from conftest import AMQP_URL, need_service, port_open
from support.celery_worker import WorkerPool
from support.ordering import assert_each_applied_once, processed_count, stream, wait_until

from hub.bootstrap import Hub
from hub.queue.celery_app import make_celery
from hub.services.ingest import IngestOutcome

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def rabbit_up() -> bool:
    return port_open("127.0.0.1", 5672)


@pytest.fixture
def broker_url() -> str:
    need_service("RabbitMQ", "127.0.0.1", 5672)
    app = make_celery(AMQP_URL)
    app.control.purge()  # tasks another run left in the hub queue name ids of another database
    return AMQP_URL


def test_rabbitmq_restart_mid_stream(producer: Hub, workers: WorkerPool) -> None:
    total = 2000
    outcomes: list[IngestOutcome] = []
    workers.start(concurrency=4)

    def feed() -> None:
        for m in stream(total, 40, seed=31):
            outcomes.append(producer.ingest.ingest(m).outcome)

    feeder = threading.Thread(target=feed, name="feeder")
    feeder.start()
    try:
        wait_until(
            lambda: processed_count(producer.engine) >= total * 3 // 10,
            timeout=240,
            what="30% processed",
        )
        rabbitmqctl("stop_app")  # every connection cut; publishes refused
        wait_until(lambda: not rabbit_up(), timeout=30, what="RabbitMQ to stop")
        time.sleep(1.0)  # ingest goes on meanwhile: the messages are stored, dispatch skipped
        rabbitmqctl("start_app")
        wait_until(rabbit_up, timeout=60, what="RabbitMQ to start")
        feeder.join()
        wait_until(
            lambda: processed_count(producer.engine) == total, timeout=240, what="all processed"
        )
    except AssertionError:
        print(workers.logs())
        raise
    finally:
        if not rabbit_up():
            rabbitmqctl("start_app")
        feeder.join()
    assert outcomes == [IngestOutcome.STORED] * total
    assert_each_applied_once(producer.engine, total)
    assert all(p.poll() is None for p in workers.started)  # the workers lived through it
    assert "Connection to broker lost" in workers.logs(tail=None)  # the restart reached them
