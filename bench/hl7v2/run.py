"""HL7 v2 benchmarks: printed, never asserted. Run by hand:

    .venv/bin/python -m bench.hl7v2.run            # full run (a few minutes)
    .venv/bin/python -m bench.hl7v2.run --quick    # smaller counts

Sections, all measured in the same run on the same synthetic corpus (bench/hl7v2/corpus.py):
1. parse + field access: hub tokenizer vs python-hl7 vs hl7apy;
2. MLLP ingest (store, then ACK; workers off) with 1 and 4 connections, beside a bare
   store-then-ACK loop (asyncio + sqlite3, same WAL settings, no parsing, fixed ACK) and the
   same loop running the hub's ingest statements on the hub's schema (the storage floor);
3. end to end: ADT/SIU into the PM model on SQLite, ingest and in-process workers together,
   then the processing phase alone on a stored backlog;
4. the distributed set-up: PostgreSQL, Redis and a ``hub worker`` process.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.hl7v2.corpus import generate
from bench.mllp_client import split_by_patient

SB, EB = b"\x0b", b"\x1c\x0d"


def hl7_receiver(hub: Any) -> Any:
    """The hub's HL7 v2 ingest service; ``extras`` on trees before the typed plug-in contract
    (``cfc432a``, issue 7's baseline), so one harness can drive both in one sitting."""
    return hub.receiver("hl7v2") if hasattr(hub, "receiver") else hub.extras["hl7v2"]


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} msgs/s"


# --- 1. tokenizer -------------------------------------------------------------------------


def _hub_access(msgs: list[bytes]) -> None:
    from hub.adapters.hl7v2.tokenizer import parse

    for raw in msgs:
        m = parse(raw)
        _ = (m.type, m.control_id, m.get("PID-3.1"), m.get("PID-5.1"), m.get("PID-7"))


def _python_hl7_access(msgs: list[bytes]) -> None:
    import hl7

    for raw in msgs:
        m = hl7.parse(raw.decode("ascii"))
        msh, pid = m.segment("MSH"), m.segment("PID")
        _ = (str(msh[9]), str(msh[10]), str(pid[3][0][0]), str(pid[5][0][0]), str(pid[7]))


def _hl7apy_access(msgs: list[bytes]) -> None:
    from hl7apy.parser import parse_message

    for raw in msgs:
        m = parse_message(raw.decode("ascii"), find_groups=False)
        _ = (
            m.msh.msh_9.value,
            m.msh.msh_10.value,
            m.pid.pid_3.value,
            m.pid.pid_5.value,
            m.pid.pid_7.value,
        )


def _best_of(fn: Callable[[list[bytes]], None], msgs: list[bytes], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(msgs)
        best = min(best, time.perf_counter() - t0)
    return best


def tokenizer_figures(n: int) -> dict[str, tuple[float, int]]:
    """Seconds per message (best of three; hl7apy once, on a twentieth) and the count timed."""
    msgs = generate(n)
    few = msgs[: max(50, n // 20)]
    return {
        "hub tokenizer": (_best_of(_hub_access, msgs) / n, n),
        "python-hl7": (_best_of(_python_hl7_access, msgs) / n, n),
        "hl7apy": (_best_of(_hl7apy_access, few, repeat=1) / len(few), len(few)),
    }


def bench_tokenizer(n: int) -> None:
    figures = tokenizer_figures(n)
    per = {name: sec for name, (sec, _) in figures.items()}
    print(f"\n## parse + 5 field reads ({n} messages; hl7apy on {figures['hl7apy'][1]})")
    for name, sec in per.items():
        print(f"  {name:<14} {sec * 1e6:9.1f} us/msg  {1 / sec:12,.0f} msgs/s")
    print(
        f"  hub vs python-hl7: {per['python-hl7'] / per['hub tokenizer']:.1f}x faster; "
        f"vs hl7apy: {per['hl7apy'] / per['hub tokenizer']:.0f}x faster"
    )


# --- 2. MLLP ingest -------------------------------------------------------------------------


def _client(port: int, msgs: list[bytes], out: mp.Queue) -> None:  # type: ignore[type-arg]
    lat: list[float] = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        for raw in msgs:
            t0 = time.perf_counter()
            s.sendall(SB + raw + EB)
            buf = b""
            while not buf.endswith(EB):
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed")
                buf += chunk
            lat.append(time.perf_counter() - t0)
    out.put(lat)


def _drive(port: int, msgs: list[bytes], connections: int) -> tuple[float, list[float]]:
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    # one patient's messages on one connection, as an EHR keeps them in order: dealt out in
    # turn, an S13 could overtake its S12 on another connection and fail as unknown
    chunks = [c for c in split_by_patient(msgs, connections) if c]
    procs = [ctx.Process(target=_client, args=(port, c, q)) for c in chunks]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    lat: list[float] = []
    for _ in procs:
        lat.extend(q.get())
    for p in procs:
        p.join()
    return time.perf_counter() - t0, lat


def _report(label: str, n: int, elapsed: float, lat: list[float]) -> float:
    lat.sort()
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    print(f"  {label:<34} {_rate(n, elapsed):>16}   ACK p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    return n / elapsed


# The hub's own setting (hub.store.db): FULL unless HUB_SQLITE_UNSAFE_NORMAL_SYNC is set, so the
# reference loops pay for the same fsyncs as the hub they are compared with.
_SYNC = "NORMAL" if os.environ.get("HUB_SQLITE_UNSAFE_NORMAL_SYNC", "") in ("1", "true") else "FULL"


class _BareServer:
    """Frame, INSERT raw + COMMIT (sqlite3, WAL, synchronous as the hub's), answer a fixed ACK."""

    ACK = b"MSH|^~\\&|HUB|PRACTICE|X|Y|20260101||ACK^A01^ACK|1|P|2.5.1\rMSA|AA|1\r"

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={_SYNC}")
        self.db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, raw BLOB, received REAL)")
        self.lock = threading.Lock()  # one writer, as SQLite (and the hub) allow

    def store(self, raw: bytes) -> None:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO m (raw, received) VALUES (?, ?)", (raw, time.time()))
            self.db.execute("COMMIT")

    async def start(self) -> int:
        server = await asyncio.start_server(self.conn, "127.0.0.1", 0)
        return int(server.sockets[0].getsockname()[1])

    async def conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        while True:
            data = await reader.read(65536)
            if not data:
                break
            buf += data
            while EB in buf:
                frame, buf = buf.split(EB, 1)
                await asyncio.to_thread(self.store, frame.lstrip(SB))
                writer.write(SB + self.ACK + EB)
            await writer.drain()
        writer.close()


class _FloorServer(_BareServer):
    """The hub's storage work without the hub: on a migrated hub database, the statements an
    ingest runs (duplicate look-ups, message row with its search indexes, patient ref, answer,
    unsealed audit row), through ``sqlite3`` with no parsing, checks or ORM. What a
    store-then-ACK loop costs once it stores what the hub must store (DESIGN.md section 3)."""

    def __init__(self, path: Path) -> None:
        from hub.bootstrap import bootstrap
        from hub.config import Settings

        bootstrap(Settings(data_dir=path), plugins=[], embedded_workers=False).stop()
        self.db = sqlite3.connect(path / "hub.db", check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={_SYNC}")
        self.lock = threading.Lock()
        self.n = 0

    def store(self, raw: bytes) -> None:
        import hashlib
        import json

        sha = hashlib.sha256(raw).hexdigest()
        now = time.strftime("%Y-%m-%d %H:%M:%S.000000")
        with self.lock:
            self.n += 1
            c = self.db.cursor()
            c.execute("BEGIN IMMEDIATE")
            c.execute(
                "SELECT id, answer FROM messages WHERE sha256 = ? AND protocol = ? "
                "AND revision_of IS NULL ORDER BY id LIMIT 1",
                (sha, "hl7v2"),
            ).fetchall()
            c.execute(
                "SELECT id FROM messages WHERE protocol = ? AND sender = ? AND control_id = ? "
                "AND direction = 'in' AND document_id IS NULL ORDER BY id LIMIT 1",
                ("hl7v2", "EHR|CLINIC", f"C{self.n}"),
            ).fetchall()
            (mid,) = c.execute(
                "INSERT INTO messages (protocol, direction, sender, receiver, control_id, sha256,"
                " type, lanes, status, received_at, updated_at, raw, meta) "
                "VALUES (?, 'in', ?, ?, ?, ?, ?, ?, 'received', ?, ?, ?, ?) RETURNING id",
                (
                    "hl7v2",
                    "EHR|CLINIC",
                    "HUB|PRACTICE",
                    f"C{self.n}",
                    sha,
                    "ADT^A04",
                    f'["CLINIC|{self.n % 500}"]',
                    now,
                    now,
                    raw,
                    '{"structure": "ADT_A01", "version": "2.5.1"}',
                ),
            ).fetchone()
            c.execute(
                "INSERT INTO lane_keys (key, message_id) VALUES (?, ?)",
                (f"CLINIC|{self.n % 500}", mid),
            )
            c.execute(
                "INSERT INTO message_patients (message_id, patient_ref) VALUES (?, ?)",
                (mid, f"MRN{self.n % 500}"),
            )
            c.execute("UPDATE messages SET answer = ? WHERE id = ?", (self.ACK, mid))
            detail = json.dumps({"sha256": sha, "type": "ADT^A04", "outcome": "stored"})
            c.execute(
                "INSERT INTO audit_log (at, actor, action, object_type, object_id, detail)"
                " VALUES (?, 'feed', 'message.received', 'message', ?, ?)",
                (now, str(mid), detail),
            )
            c.execute("COMMIT")


def _serve_in_thread(
    start: Callable[[], Coroutine[Any, Any, int]],
) -> tuple[int, Callable[[], None]]:
    import threading

    loop = asyncio.new_event_loop()
    ready: list[int] = []
    done = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        ready.append(loop.run_until_complete(start()))
        done.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    done.wait(30)

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)

    return ready[0], stop


def bench_ingest(n: int, tmp: Path) -> None:
    from hub.adapters.transport.mllp_server import MllpServer
    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.queue.dispatch import NullDispatcher

    msgs = generate(n, seed=11)
    print(f"\n## MLLP ingest, store then ACK, workers off ({n} messages per run)")
    results: dict[str, float] = {}
    for conns in (1, 4):
        loops = (
            ("bare", "bare store-then-ACK", _BareServer(tmp / f"bare{conns}.db")),
            ("floor", "hub's statements only", _FloorServer(tmp / f"floor{conns}")),
        )
        for key, label, loop in loops:
            port, stop = _serve_in_thread(loop.start)
            elapsed, lat = _drive(port, msgs, conns)
            stop()
            results[f"{key}{conns}"] = _report(f"{label}, {conns} conn", n, elapsed, lat)

        hub = bootstrap(
            Settings(data_dir=tmp / f"hub{conns}"),
            dispatcher=NullDispatcher(),
            embedded_workers=False,
        )
        service = hl7_receiver(hub)

        async def start_hub(svc: Any = service) -> int:
            async def handler(frame: bytes, peer: object) -> bytes | None:
                return await asyncio.to_thread(svc.handle, frame)  # type: ignore[no-any-return]

            server = MllpServer(
                handler, "127.0.0.1", 0, max_frame_bytes=4 << 20, read_timeout=30, idle_timeout=600
            )
            await server.start()
            return server.bound_port

        port, stop = _serve_in_thread(start_hub)
        elapsed, lat = _drive(port, msgs, conns)
        stop()
        hub.stop()
        results[f"hub{conns}"] = _report(f"hub MLLP ingest, {conns} conn", n, elapsed, lat)
        print(
            f"  -> hub is {results[f'hub{conns}'] / results[f'bare{conns}']:.0%} of the bare "
            f"loop with {conns} connection(s); storing only what the hub stores is "
            f"{results[f'floor{conns}'] / results[f'bare{conns}']:.0%} of it"
        )


# --- 3. end to end --------------------------------------------------------------------------


def bench_end_to_end(n: int, tmp: Path, workers: int = 4) -> None:
    from hub.bootstrap import bootstrap
    from hub.config import Settings

    msgs = generate(n, seed=23)
    hub = bootstrap(Settings(data_dir=tmp / f"e2e{workers}", workers=workers))
    service = hl7_receiver(hub)
    hub.start_background()
    t0 = time.perf_counter()
    for raw in msgs:
        service.handle(raw)
    ingested = time.perf_counter() - t0
    processed, _ = _wait_processed(hub, n, poll=0.02)
    elapsed = time.perf_counter() - t0
    failed = _counts(hub).get("failed", 0)
    hub.stop()
    print(
        f"\n## end to end: ADT A04/A08 + SIU S12/S13 into the PM model, SQLite, {workers} "
        "in-process worker(s), ingest in the same process"
    )
    print(
        f"  {n} messages: ingest {_rate(n, ingested)}; all processed after {elapsed:.2f} s = "
        f"{_rate(n, elapsed)}  (processed {processed}, failed {failed})"
    )


def backlog_figures(n: int, tmp: Path, workers: int = 1, *, charges: float = 0.0) -> dict[str, Any]:
    """The processing phase alone: ``n`` messages stored first (workers off), then the
    in-process workers apply the backlog into the PM model. Seconds from the workers' start to
    nothing waiting."""
    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.queue.dispatch import NullDispatcher

    msgs = generate(n, seed=31, charges=charges)
    settings = Settings(data_dir=tmp / f"backlog{workers}", workers=workers)
    loader = bootstrap(settings, dispatcher=NullDispatcher(), embedded_workers=False)
    service = hl7_receiver(loader)
    t0 = time.perf_counter()
    for raw in msgs:
        service.handle(raw)
    stored = time.perf_counter() - t0  # one caller, each message acknowledged as it is stored
    loader.stop()
    hub = bootstrap(settings)
    t0 = time.perf_counter()
    hub.start_background()
    processed, other = _wait_processed(hub, n, timeout=max(600, n / 50), poll=0.02)
    elapsed = time.perf_counter() - t0
    hub.stop()
    return {"n": n, "seconds": elapsed, "processed": processed, "not_processed": other,
            "batch": settings.worker_batch, "store_seconds": stored}  # fmt: skip


def bench_backlog(n: int, tmp: Path, workers: int = 1) -> None:
    r = backlog_figures(n, tmp, workers)
    print(
        f"\n## processing a stored backlog into the PM model, SQLite, {workers} in-process "
        f"worker(s), batches of {r['batch']}"
    )
    print(
        f"  {n} messages: {_rate(n, r['seconds'])}  (processed {r['processed']}, "
        f"not processed {r['not_processed']})"
    )


def _counts(hub: Any) -> dict[str, int]:
    """Messages per status, read in a snapshot: polling must not queue for the writer."""
    import sqlalchemy as sa

    from hub.store.db import UnitOfWork
    from hub.store.tables import messages

    q = sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)
    with UnitOfWork(hub.engine, read_only=True) as ro:
        return {str(status): int(n) for status, n in ro.conn.execute(q)}


def _wait_processed(hub: Any, n: int, timeout: float = 600, poll: float = 0.05) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = _counts(hub)
        if not any(counts.get(s, 0) for s in ("received", "processing", "retrying")):
            done = counts.get("processed", 0)
            return done, n - done
        time.sleep(poll)
    raise RuntimeError("not processed in time")


def bench_end_to_end_distributed(
    n: int, tmp: Path, pg_admin: str, broker: str, concurrency: int
) -> None:
    """The distributed set-up: PostgreSQL store, Redis broker, a real ``hub worker`` process
    (prefork, ``concurrency`` children); ingest in this process, as ``hub serve`` would."""
    import os
    import signal
    import subprocess
    import sys
    import uuid

    import sqlalchemy as sa

    from hub.bootstrap import bootstrap
    from hub.config import Settings

    name = f"hub_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = pg_admin.rsplit("/", 1)[0] + f"/{name}"
    msgs = generate(n, seed=29)
    hub = bootstrap(Settings(data_dir=tmp / "dist", database_url=url, broker_url=broker))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=url,
        HUB_BROKER_URL=broker,
        HUB_LOG_LEVEL="WARNING",
        HUB_DATA_DIR=str(tmp / "dist"),
    )
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("hub")), "worker", f"--concurrency={concurrency}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(4)  # let the worker connect before the clock starts
        service = hl7_receiver(hub)
        t0 = time.perf_counter()
        for raw in msgs:
            service.handle(raw)
        ingested = time.perf_counter() - t0
        processed, other = _wait_processed(hub, n)
        elapsed = time.perf_counter() - t0
        unprocessed = _unprocessed(hub)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        hub.stop()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    print(
        f"\n## end to end, distributed: PostgreSQL + Redis + hub worker "
        f"(--concurrency={concurrency}), ingest in the bench process"
    )
    print(
        f"  {n} messages: ingest {_rate(n, ingested)}; all processed after {elapsed:.2f} s = "
        f"{_rate(n, elapsed)}  (processed {processed}, not processed {other})"
    )
    for line in unprocessed:
        print(f"  not processed: {line}")


def _unprocessed(hub: Any) -> list[str]:
    """Status and error code of each message not processed (ids and codes only)."""
    from hub.store import messages as store
    from hub.store.lifecycle import Status
    from hub.store.messages import MessageFilter

    out = []
    with hub.uow() as uow:
        for status in (Status.FAILED, Status.DEAD, Status.HELD):
            for rec in store.search(uow.conn, MessageFilter(status=status, limit=20)):
                out.append(f"message {rec.id} {rec.type} {status.value}: {rec.last_error_code}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["tokenizer", "ingest", "e2e", "distributed"], default=None)
    ap.add_argument(
        "--pg",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL admin URL for the distributed section",
    )
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/6")
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 4],
        help="in-process worker counts for the end-to-end section",
    )
    args = ap.parse_args()
    scale = 1 if not args.quick else 5
    import os
    import platform

    print(
        f"# bench/hl7v2 on {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores"
    )
    if args.only in (None, "tokenizer"):
        bench_tokenizer(10_000 // scale)
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "ingest"):
            bench_ingest(4_000 // scale, Path(tmp))
        if args.only in (None, "e2e"):
            for workers in args.workers:
                bench_end_to_end(5_000 // scale, Path(tmp), workers)
            bench_backlog(5_000 // scale, Path(tmp))
        if args.only in (None, "distributed"):
            bench_end_to_end_distributed(5_000 // scale, Path(tmp), args.pg, args.broker, 2)


if __name__ == "__main__":
    main()
