"""The MLLP servers the hub's ingest is measured beside, each run as a process of its own:

    .venv/bin/python -m bench.peers bare|python-hl7|hl7apy --port PORT --db PATH

* ``bare``: the store-then-ACK loop of :mod:`bench.hl7v2.run` (asyncio + ``sqlite3``, raw bytes
  into an unindexed table, one COMMIT per message, fixed ACK): the ceiling.
* ``python-hl7``: python-hl7's asyncio MLLP server (``hl7.mllp.start_hl7_server``); each message
  parsed by the library (``readmessage``), stored raw in SQLite with a COMMIT, then answered
  with the library's ``create_ack()``.
* ``hl7apy``: hl7apy's ``MLLPServer`` (a threading ``socketserver``) with a handler per message
  type that parses the message (``parse_message``) and answers an ACK built with hl7apy. It stores
  nothing and closes the connection after each answer (the library's behaviour), so the client
  reconnects per message against it.

The SQLite loops use the hub's ``synchronous`` setting (FULL unless the opt-out is set), WAL,
and one writer at a time, as the hub does. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.hl7v2.run import _SYNC, _BareServer


class _SqliteStore:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={_SYNC}")
        self.db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, raw TEXT, received REAL)")
        self.lock = threading.Lock()

    def store(self, raw: str) -> None:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO m (raw, received) VALUES (?, ?)", (raw, time.time()))
            self.db.execute("COMMIT")


async def _serve_python_hl7(port: int, db: Path) -> None:
    import hl7.mllp

    store = _SqliteStore(db)

    async def on_client(reader: Any, writer: Any) -> None:
        try:
            while not writer.is_closing():
                msg = await reader.readmessage()  # parsed by python-hl7
                await asyncio.to_thread(store.store, str(msg))
                writer.writemessage(msg.create_ack())
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async with await hl7.mllp.start_hl7_server(on_client, "127.0.0.1", port) as server:
        await _until_sigterm()
        server.close()


async def _serve_bare(port: int, db: Path) -> None:
    loop = _BareServer(db)
    server = await asyncio.start_server(loop.conn, "127.0.0.1", port)
    async with server:
        await _until_sigterm()


async def _until_sigterm() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def _serve_hl7apy(port: int) -> None:
    from hl7apy.core import Message
    from hl7apy.mllp import AbstractHandler, MLLPServer
    from hl7apy.parser import parse_message

    class Ack(AbstractHandler):  # type: ignore[misc]
        def reply(self) -> str:
            msg = parse_message(self.incoming_message, find_groups=False)
            ack = Message("ACK", version="2.5.1")
            ack.msh.msh_3 = "HUB"
            ack.msh.msh_4 = "PRACTICE"
            ack.msh.msh_9 = "ACK"
            ack.msh.msh_10 = "A" + msg.msh.msh_10.value
            ack.msa.msa_1 = "AA"
            ack.msa.msa_2 = msg.msh.msh_10.value
            return "\x0b" + ack.to_er7() + "\r\x1c\x0d"  # type: ignore[no-any-return]

    class EveryType(dict[str, tuple[type, ...]]):
        """The same handler for every MSH-9 (hl7apy looks handlers up by the whole field)."""

        def __getitem__(self, msg_type: str) -> tuple[type, ...]:
            return (Ack,)

    server = MLLPServer("127.0.0.1", port, EveryType())
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


@contextmanager
def peer(kind: str, tmp: Path) -> Iterator[int]:
    """A peer server in a process of its own; yields its MLLP port."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.peers", kind, "--port", str(port)]
    cmd += ["--db", str(tmp / f"{kind}-{port}.db")]
    root = Path(__file__).resolve().parents[1]  # so ``-m bench.peers`` resolves from any cwd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, cwd=root)
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["bare", "python-hl7", "hl7apy"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", type=Path, required=True)
    args = ap.parse_args()
    if args.kind == "bare":
        asyncio.run(_serve_bare(args.port, args.db))
    elif args.kind == "python-hl7":
        asyncio.run(_serve_python_hl7(args.port, args.db))
    else:
        _serve_hl7apy(args.port)


if __name__ == "__main__":
    main()
