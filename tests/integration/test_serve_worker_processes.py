"""``hub serve`` with its workers in a child process (docs/adr/0026), as an operator runs it:
messages ACKed by the listening process are processed by the child; a child that dies is
started again; one that keeps dying stops the hub with an error; SIGTERM stops both. Real
processes, real sockets on loopback, the real SQLite file. All data synthetic."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from support.waiting import wait_until

from hub.adapters.hl7v2.ack import parse_ack

pytestmark = pytest.mark.integration

HUB = str(Path(sys.executable).with_name("hub"))


def adt(control: str) -> bytes:
    return (
        f"MSH|^~\\&|EHRX|NORTHCLINIC|HUB|PRACTICE|20240105083000||ADT^A04^ADT_A01|{control}|P|"
        f"2.5.1\rEVN|A04|20240105083000\rPID|1||M{control}^^^CLINIC^MR||Zyxwvutson^Qwertina||"
        "19800214|F\rPV1|1|O\r"
    ).encode()


class Served:
    def __init__(self, tmp_path: Path, **extra: str) -> None:
        self.data = tmp_path / "var"
        self.port = free_port()
        self.log = tmp_path / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_DATA_DIR=str(self.data),
            HUB_HTTP_PORT=str(free_port()),
            HUB_MLLP_PORT=str(self.port),
            HUB_WORKER_PROCESSES="1",
            **extra,
        )
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [HUB, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_until(self._listening, timeout=60, what="hub serve to listen")

    def _listening(self) -> bool:
        assert self.proc.poll() is None, self.logs()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except FileNotFoundError:
            return []

    def send(self, control: str) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(b"\x0b" + adt(control) + b"\x1c\x0d")
            buf = b""
            while not buf.endswith(b"\x1c\x0d"):
                chunk = s.recv(65536)
                assert chunk, "connection closed without an ACK"
                buf += chunk
        return parse_ack(buf[1:-2]).code

    def status(self, control: str) -> str | None:
        db = sqlite3.connect(f"file:{self.data / 'hub.db'}?mode=ro", uri=True, timeout=30)
        try:
            row = db.execute("SELECT status FROM messages WHERE control_id = ?", (control,))
            found = row.fetchone()
        finally:
            db.close()
        return None if found is None else str(found[0])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


@pytest.fixture
def served(tmp_path: Path) -> Served:
    s = Served(tmp_path)
    yield s  # type: ignore[misc]
    for pid in s.children():
        os.kill(pid, signal.SIGKILL)
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait(30)


def test_a_child_processes_what_the_listener_acks_and_is_restarted_when_it_dies(
    served: Served,
) -> None:
    wait_until(lambda: len(served.children()) == 1, timeout=30, what="one worker process")
    (first,) = served.children()
    assert served.send("W1") == "AA"
    wait_until(lambda: served.status("W1") == "processed", timeout=60, what="W1 processed")
    os.kill(first, signal.SIGKILL)
    wait_until(
        lambda: served.children() not in ([], [first]), timeout=30, what="a new worker process"
    )
    assert "worker process died; starting it again" in served.logs()
    assert served.send("W2") == "AA"
    wait_until(lambda: served.status("W2") == "processed", timeout=60, what="W2 processed")
    (second,) = served.children()
    assert served.stop() == 0
    assert served.children() == []
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)  # gone with its supervisor (reaped, so no zombie either)


def test_the_hub_listens_only_once_its_worker_process_runs(served: Served) -> None:
    """The child reports on its ready pipe after its workers start; the listener waits for it,
    so the first messages are not left behind a child that is still importing."""
    logs = served.logs()
    assert "worker process serving" in logs  # written by the child before the port opened
    assert logs.index("worker process serving") < logs.index("worker processes ready")


def test_a_child_that_keeps_dying_stops_the_hub_with_an_error(served: Served) -> None:
    killed: set[int] = set()
    while served.proc.poll() is None and len(killed) < 10:
        wait_until(
            lambda: served.proc.poll() is not None or bool(set(served.children()) - killed),
            timeout=30,
            what="a worker process to kill",
        )
        for pid in set(served.children()) - killed:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
    assert served.proc.wait(60) == 1
    assert "worker processes keep dying; stopping the hub" in served.logs()
    assert len(killed) == 5  # the fifth death within a minute stopped it


def test_sigterm_lets_in_flight_work_finish_and_stops_both(served: Served) -> None:
    codes = [served.send(f"T{i}") for i in range(20)]
    assert codes == ["AA"] * 20
    children = served.children()
    assert served.stop() == 0
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # everything acknowledged is stored; what the child did not reach is processed next start
    assert all(served.status(f"T{i}") in ("received", "processed") for i in range(20))
