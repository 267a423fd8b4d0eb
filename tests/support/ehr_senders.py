"""EHR senders on real MLLP connections, for tests that stop or break the hub under load.

Each :class:`Sender` sends its messages in order and sends a message again until it is
answered, as an EHR interface engine does when its connection closes without an ACK. The
plan registers a few patients per sender and then updates their names in turn, so each
patient's final name shows whether their messages applied in order. All data is synthetic.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.transport.mllp_client import MllpClient
from hub.errors import DeliveryError
from hub.store.pm_tables import patients
from hub.store.tables import messages
from support import hl7_messages


def adt(control: str, mrn: str, given: str, trigger: str) -> bytes:
    return hl7_messages.adt(control, trigger=trigger, mrn=mrn, family="Restartperson", given=given)


def plan(
    senders: int, patients_each: int, updates: int
) -> tuple[list[list[tuple[str, bytes]]], dict[str, str]]:
    """Per sender: its patients' registrations (A04), then their updates (A08) interleaved;
    and each MRN's last given name."""
    plans: list[list[tuple[str, bytes]]] = []
    last_name: dict[str, str] = {}
    for s in range(senders):
        items: list[tuple[str, bytes]] = []
        mrns = [f"R{s}{p:03d}" for p in range(patients_each)]
        for mrn in mrns:
            items.append((f"C{mrn}-0", adt(f"C{mrn}-0", mrn, "Given0", "A04")))
            last_name[mrn] = "Given0"
        for k in range(1, updates + 1):
            for mrn in mrns:
                items.append((f"C{mrn}-{k}", adt(f"C{mrn}-{k}", mrn, f"Given{k}", "A08")))
                last_name[mrn] = f"Given{k}"
        plans.append(items)
    return plans, last_name


class Sender(threading.Thread):
    """One EHR connection to ``port()`` (read at each connect, so the hub may move)."""

    def __init__(self, port: Callable[[], int], items: list[tuple[str, bytes]]) -> None:
        super().__init__(name="ehr-sender")
        self.port = port
        self.items = items
        self.acks: dict[str, list[str]] = {}
        self.unanswered = 0
        self.problems: list[str] = []

    def run(self) -> None:
        client: MllpClient | None = None
        try:
            for control, raw in self.items:
                deadline = time.monotonic() + 120
                while True:
                    if client is None:
                        client = MllpClient("127.0.0.1", self.port(), connect_timeout=2)
                    try:
                        reply = client.send(raw)
                        break
                    except DeliveryError:
                        client.close()
                        client = None
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
            if client is not None:
                client.close()


def acknowledged(senders: list[Sender]) -> int:
    return sum(len(s.acks) for s in senders)


def processed(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        q = sa.select(sa.func.count()).where(messages.c.status == "processed")
        return int(conn.execute(q).scalar_one())


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def assert_nothing_lost(
    engine: sa.Engine, senders: list[Sender], last_name: dict[str, str], *, extra: int = 0
) -> None:
    """Every message answered AA exactly once, stored once and processed; each patient's
    final name is the last one sent (their messages applied in order). ``extra`` counts
    messages stored besides the senders'."""
    assert [p for s in senders for p in s.problems] == []
    acks = {c: codes for s in senders for c, codes in s.acks.items()}
    assert len(acks) == sum(len(s.items) for s in senders)
    assert {c: codes for c, codes in acks.items() if codes != ["AA"]} == {}
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(messages.c.control_id, sa.func.count()).group_by(messages.c.control_id)
        ).all()
        not_done = conn.execute(
            sa.select(sa.func.count()).where(messages.c.status != "processed")
        ).scalar_one()
        names = dict(conn.execute(sa.select(patients.c.mrn, patients.c.given_name)).all())
    assert {c: n for c, n in stored if n != 1} == {}  # none stored twice
    assert set(acks) <= {c for c, _ in stored}
    assert len(stored) == len(acks) + extra
    assert not_done == 0
    assert {mrn: names.get(mrn) for mrn in last_name} == last_name
