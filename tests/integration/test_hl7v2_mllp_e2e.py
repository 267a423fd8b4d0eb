"""HL7 v2 over real MLLP sockets into the PM model, with the real listener, processors and
in-process workers: many messages on one connection, interleaved connections keeping each
patient's order, and a duplicate resend answered with the original ACK and not processed twice.
All people and identifiers are synthetic.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import HubFactory, free_port
from support import hl7_messages

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.hl7v2.tokenizer import parse
from hub.bootstrap import Hub
from hub.config import Settings
from hub.store.lifecycle import PENDING, Status
from hub.store.pm_tables import patients
from hub.store.tables import audit_log, messages

SB, EB = b"\x0b", b"\x1c\x0d"


def adt(control: str, mrn: str, given: str, trigger: str = "A08") -> bytes:
    return hl7_messages.adt(control, trigger=trigger, mrn=mrn, given=given)


class Listener:
    """The HL7 v2 plug-in's listener (what ``hub serve`` runs) in a background event loop."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            (listener,) = self.hub.protocols["hl7v2"].listeners
            await listener(self.stop_event)

        self.loop.run_until_complete(main())

    def __enter__(self) -> Listener:
        self.thread.start()
        port = self.hub.settings.mllp_port
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("MLLP listener did not come up")

    def __exit__(self, *exc: object) -> None:
        assert self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(15)
        self.loop.close()


class Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, raw: bytes) -> bytes:
        self.sock.sendall(SB + raw + EB)
        while EB not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "listener closed the connection"
            self.buf += chunk
        frame, self.buf = self.buf.split(EB, 1)
        assert frame.startswith(SB)
        return frame[1:]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def live_hub(make_hub: HubFactory, tmp_path: Path) -> Iterator[Hub]:
    settings = Settings(data_dir=tmp_path / "var", mllp_port=free_port(), workers=4)
    hub = make_hub(settings, dispatcher=None)  # real wake-up dispatcher + 4 embedded workers
    hub.start_background()
    with Listener(hub):
        yield hub


def wait_processed(hub: Hub, expected: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = [s.value for s in PENDING]
    while time.monotonic() < deadline:
        with hub.uow() as uow:
            total = uow.conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar()
            left = uow.conn.execute(
                sa.select(sa.func.count()).where(messages.c.status.in_(pending))
            ).scalar()
        if total == expected and left == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"not processed in time: {total} stored, {left} pending")


def processed_order(hub: Hub) -> dict[int, int]:
    """message id -> the audit row id of its 'message.processed' event (application order:
    SQLite has one writer, so insert order is commit order; the sealer numbers in that order)."""
    with hub.uow() as uow:
        rows = uow.conn.execute(
            sa.select(audit_log.c.object_id, audit_log.c.id).where(
                audit_log.c.action == "message.processed"
            )
        )
        return {int(r.object_id): int(r.id) for r in rows}


def test_many_messages_on_one_connection(live_hub: Hub) -> None:
    conn = Conn(live_hub.settings.mllp_port)
    try:
        for n in range(150):
            control = f"ONE{n:04d}"
            ack = conn.send(adt(control, f"M{n % 10:03d}", f"G{n}", "A04" if n < 10 else "A08"))
            result = parse_ack(ack)
            assert (result.code, result.control_id_acked) == ("AA", control)
            msh = parse(ack).first("MSH")
            assert msh is not None
            # the ACK's sender is the message's receiver and vice versa
            assert (msh.get(3), msh.get(4), msh.get(5), msh.get(6)) == (
                "HUB",
                "PRACTICE",
                "EHRX",
                "NORTHCLINIC",
            )
    finally:
        conn.close()
    wait_processed(live_hub, 150)
    with live_hub.uow() as uow:
        statuses = uow.conn.execute(sa.select(messages.c.status).distinct()).scalars().all()
        count = uow.conn.execute(sa.select(sa.func.count()).select_from(patients)).scalar()
    assert statuses == [Status.PROCESSED.value]
    assert count == 10


def test_interleaved_connections_keep_each_patients_order(live_hub: Hub) -> None:
    """Patient p's k-th message goes over connection (p + k) % C, sent only after its (k-1)-th
    was acknowledged: arrival order per patient is defined, connections interleave."""
    connections, patients_n, per_patient = 6, 12, 15
    acked = {(p, k): threading.Event() for p in range(patients_n) for k in range(per_patient)}
    ids: dict[tuple[int, int], int] = {}
    work: list[list[tuple[int, int]]] = [[] for _ in range(connections)]
    for k in range(per_patient):
        for p in range(patients_n):
            work[(p + k) % connections].append((p, k))
    errors: list[BaseException] = []

    def run(items: list[tuple[int, int]]) -> None:
        conn = Conn(live_hub.settings.mllp_port)
        try:
            for p, k in items:
                if k > 0 and not acked[(p, k - 1)].wait(30):
                    raise AssertionError(f"predecessor of {(p, k)} never acknowledged")
                trigger = "A04" if k == 0 else "A08"
                ack = parse_ack(conn.send(adt(f"IL{p:02d}{k:03d}", f"P{p:03d}", f"V{k}", trigger)))
                assert ack.code == "AA"
                acked[(p, k)].set()
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    total = patients_n * per_patient
    wait_processed(live_hub, total)
    with live_hub.uow() as uow:
        for row in uow.conn.execute(sa.select(messages.c.id, messages.c.control_id)):
            ids[(int(row.control_id[2:4]), int(row.control_id[4:]))] = int(row.id)
        finals = dict(uow.conn.execute(sa.select(patients.c.mrn, patients.c.given_name)).all())
    order = processed_order(live_hub)
    violations = 0
    for p in range(patients_n):
        seqs = [order[ids[(p, k)]] for k in range(per_patient)]
        violations += sum(1 for a, b in itertools.pairwise(seqs) if b < a)
    assert violations == 0
    # the last update of each patient won
    assert finals == {f"P{p:03d}": f"V{per_patient - 1}" for p in range(patients_n)}


def test_duplicate_resend_over_mllp_gets_the_original_ack(live_hub: Hub) -> None:
    raw = adt("DUP0001", "D001", "Once", "A04")
    conn = Conn(live_hub.settings.mllp_port)
    try:
        first = conn.send(raw)
        wait_processed(live_hub, 1)
        second = conn.send(raw)
    finally:
        conn.close()
    other = Conn(live_hub.settings.mllp_port)  # a resend on a new connection, too
    try:
        third = other.send(raw)
    finally:
        other.close()
    assert first == second == third
    assert parse_ack(first).code == "AA"
    # A later message of the same patient's lane: once it is processed, anything the resends
    # wrongly stored or requeued ahead of it in the lane has been processed too.
    marker = Conn(live_hub.settings.mllp_port)
    try:
        assert parse_ack(marker.send(adt("DUP0002", "D001", "Later", "A08"))).code == "AA"
    finally:
        marker.close()
    wait_processed(live_hub, 2)
    with live_hub.uow() as uow:
        stored = uow.conn.execute(
            sa.select(messages.c.control_id, sa.func.count()).group_by(messages.c.control_id)
        ).all()
        processed_events = uow.conn.execute(
            sa.select(sa.func.count()).where(audit_log.c.action == "message.processed")
        ).scalar()
    assert sorted(stored) == [("DUP0001", 1), ("DUP0002", 1)]
    assert processed_events == 2  # the duplicate once, the marker once
