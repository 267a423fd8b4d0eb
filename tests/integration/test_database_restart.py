"""PostgreSQL restarted under load: nothing acknowledged is lost, nothing is applied twice.

1. ``hub serve`` on PostgreSQL with in-process workers, four EHR senders on real MLLP
   connections. While the database restarts, a message that cannot be stored gets no ACK (the
   connection is closed) and the sender sends it again, as an EHR does. Afterwards every
   message has exactly one AA and one stored row, all are processed, each patient ends with
   the name of the last update sent for them (lane order held), and the listener still serves.
2. ``hub worker`` (Celery, Redis) processing while PostgreSQL restarts, fed through the ingest
   service, which retries what it could not store: each stored message applied exactly once,
   every lane in order, the interrupted claims recovered by the sweeper.

All people and identifiers are synthetic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from support import pipeline_plugin as plugin
from support.celery_worker import WorkerPool
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
from hub.config import Settings
from hub.errors import DeliveryError
from hub.services.ingest import Inbound, IngestOutcome
from hub.store.pm_tables import patients
from hub.store.tables import messages

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENDERS = 4
PATIENTS_PER_SENDER = 5
UPDATES_PER_PATIENT = 30  # after the registration


def adt(control: str, mrn: str, given: str, trigger: str) -> bytes:
    return (
        f"MSH|^~\\&|EHRX|NORTHCLINIC|HUB|PRACTICE|20260105083000||ADT^{trigger}^ADT_A01|"
        f"{control}|P|2.5.1\r"
        f"EVN|{trigger}|20260105083000\r"
        f"PID|1||{mrn}^^^NORTHCLINIC^MR||Restartperson^{given}||19800214|F\r"
        "PV1|1|O\r"
    ).encode()


class Sender(threading.Thread):
    """One EHR connection: each message is sent until it is answered, as an EHR does when its
    connection closes without an ACK."""

    def __init__(self, port: int, items: list[tuple[str, bytes]]) -> None:
        super().__init__(name=f"sender-{port}")
        self.port = port
        self.items = items
        self.acks: dict[str, list[str]] = {}
        self.unanswered = 0
        self.problems: list[str] = []

    def run(self) -> None:
        client = MllpClient("127.0.0.1", self.port, connect_timeout=2, read_timeout=20)
        try:
            for control, raw in self.items:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        reply = client.send(raw)
                        break
                    except DeliveryError:
                        self.unanswered += 1
                        if time.monotonic() > deadline:
                            self.problems.append(f"{control}: never answered")
                            return
                        time.sleep(0.2)
                ack = parse_ack(reply)
                if ack.control_id_acked != control:
                    self.problems.append(f"{control}: ACK for {ack.control_id_acked}")
                self.acks.setdefault(control, []).append(ack.code)
        finally:
            client.close()


def _plan() -> tuple[list[list[tuple[str, bytes]]], dict[str, str]]:
    """Per sender: its patients' registrations then their updates, interleaved; and each
    MRN's last given name."""
    plans: list[list[tuple[str, bytes]]] = []
    last_name: dict[str, str] = {}
    for s in range(SENDERS):
        items: list[tuple[str, bytes]] = []
        mrns = [f"R{s}{p:03d}" for p in range(PATIENTS_PER_SENDER)]
        for mrn in mrns:
            items.append((f"C{mrn}-0", adt(f"C{mrn}-0", mrn, "Given0", "A04")))
        for k in range(1, UPDATES_PER_PATIENT + 1):
            for mrn in mrns:
                items.append((f"C{mrn}-{k}", adt(f"C{mrn}-{k}", mrn, f"Given{k}", "A08")))
                last_name[mrn] = f"Given{k}"
        plans.append(items)
    return plans, last_name


def _counts(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar_one()
        done = conn.execute(
            sa.select(sa.func.count()).where(messages.c.status == "processed")
        ).scalar_one()
    return int(total), int(done)


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
    plans, last_name = _plan()
    total = sum(len(p) for p in plans)
    proc = serve.start()
    try:
        wait_until(lambda: _port_open(serve.mllp_port), timeout=60, what="the MLLP listener")
        senders = [Sender(serve.mllp_port, items) for items in plans]
        for s in senders:
            s.start()
        wait_until(
            lambda: sum(len(s.acks) for s in senders) >= total // 4,
            timeout=120,
            what="a quarter acknowledged",
        )
        restart_postgresql(pg_url)
        for s in senders:
            s.join(300)
        assert [p for s in senders for p in s.problems] == []
        assert sum(s.unanswered for s in senders) > 0, "the restart interrupted no message"
        wait_until(lambda: _counts(probe)[1] == total, timeout=240, what="all processed")
        # the listener outlived the outage: a new connection is answered too
        with MllpClient("127.0.0.1", serve.mllp_port) as client:
            assert parse_ack(client.send(adt("CAFTER", "R9999", "Late", "A04"))).code == "AA"
        assert proc.poll() is None
    except AssertionError:
        print(serve.logs())
        raise
    finally:
        serve.stop_all()

    acks = {c: codes for s in senders for c, codes in s.acks.items()}
    assert len(acks) == total and all(codes == ["AA"] for codes in acks.values())
    with probe.connect() as conn:
        stored = conn.execute(
            sa.select(messages.c.control_id, sa.func.count()).group_by(messages.c.control_id)
        ).all()
        names = dict(conn.execute(sa.select(patients.c.mrn, patients.c.given_name)).all())
    assert {c: n for c, n in stored if n != 1} == {}  # no message stored twice
    assert {c for c, _ in stored} == set(acks) | {"CAFTER"}
    assert {mrn: names.get(mrn) for mrn in last_name} == last_name


def _port_open(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def broker_url(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + "/8"  # our own Redis database
    redis.Redis.from_url(url).flushdb()
    return url


def test_celery_workers_survive_a_database_restart(
    pg_url: str, broker_url: str, make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    need_postgresql_restart()
    producer = make_hub(
        Settings(database_url=pg_url, broker_url=broker_url, lease_seconds=3, sweep_interval=1),
        dispatcher=None,
        plugins=[plugin.register],
        embedded_workers=False,
    )
    pool = WorkerPool(database_url=pg_url, broker_url=broker_url, log_dir=tmp_path)
    total = 2000
    refused: list[int] = []
    problems: list[str] = []

    def feed(items: list[Inbound]) -> None:
        for m in items:
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
        pool.start(concurrency=4)
        feeder = threading.Thread(target=feed, args=(stream(total, 40, seed=23),))
        feeder.start()
        wait_until(
            lambda: processed_count(producer.engine) >= total // 4,
            timeout=240,
            what="a quarter processed",
        )
        restart_postgresql(pg_url)
        feeder.join(300)
        assert problems == []
        assert refused, "the restart refused no message"
        wait_until(
            lambda: processed_count(producer.engine) == total, timeout=240, what="all processed"
        )
    except AssertionError:
        print(pool.logs())
        raise
    finally:
        pool.stop_all()
    assert_each_applied_once(producer.engine, total)
