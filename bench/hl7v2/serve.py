"""MLLP ingest while processing runs, through a real ``hub serve``: printed, never asserted.

    .venv/bin/python -m bench.hl7v2.serve [--n 3000] [--connections 4] [--env K=V ...]

Starts ``hub serve`` on the embedded default (SQLite, in-process or child-process workers, as
the environment says) in a temporary data directory, sends ``n`` synthetic ADT/SIU messages
over ``connections`` MLLP connections while the workers process them, and prints ingest msgs/s,
ACK p50/p99, and the time until every message is processed (end to end). The hub runs as an
operator would start it, so ingest and processing share (or do not share) an interpreter the
way they do in production. ``--env HUB_WORKER_PROCESSES=0`` runs the workers in-process.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.hl7v2.corpus import generate
from bench.hl7v2.run import _drive, _rate, _report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hub serve exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("hub serve did not listen in time")


def _pending(db: Path) -> tuple[int, int]:
    """(messages not yet processed or failed, messages processed), read-only."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status"))
    finally:
        conn.close()
    pending = sum(rows.get(s, 0) for s in ("received", "processing", "retrying"))
    return pending, rows.get("processed", 0)


def _not_processed(db: Path) -> list[tuple[str, str | None, int]]:
    """(status, error code, count) of messages not processed: ids and codes only."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        q = (
            "SELECT status, last_error_code, count(*) FROM messages WHERE status != 'processed'"
            " GROUP BY status, last_error_code"
        )
        return [(str(s), c, int(n)) for s, c, n in conn.execute(q)]
    finally:
        conn.close()


def run(n: int, connections: int, env_extra: dict[str, str]) -> None:
    msgs = generate(n, seed=37)
    with tempfile.TemporaryDirectory() as tmp:
        mllp = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_DATA_DIR=tmp,
            HUB_MLLP_PORT=str(mllp),
            HUB_HTTP_PORT=str(_free_port()),
            HUB_LOG_LEVEL="WARNING",
            **env_extra,
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_port(mllp, proc)
            time.sleep(1)  # workers up
            t0 = time.perf_counter()
            ingest_s, lat = _drive(mllp, msgs, connections)
            label = " ".join(f"{k}={v}" for k, v in env_extra.items()) or "defaults"
            _report(f"serve ({label}), {connections} conn", n, ingest_s, lat)
            db = Path(tmp) / "hub.db"
            deadline = time.monotonic() + 600
            pending, done = _pending(db)
            while pending and time.monotonic() < deadline:
                time.sleep(0.02)
                pending, done = _pending(db)
            elapsed = time.perf_counter() - t0
            print(
                f"  -> all processed after {elapsed:.2f} s = {_rate(n, elapsed)} end to end "
                f"(processed {done} of {n})"
            )
            for status, code, count in _not_processed(db):
                print(f"  not processed: {count} {status} ({code})")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for hub serve")
    args = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.env)
    run(args.n, args.connections, extra)


if __name__ == "__main__":
    main()
