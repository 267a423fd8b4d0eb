"""PostgreSQL throughput of ingest and processing, the audit log's hottest users.

Every receipt and every processed message appends an audit row. This measures, on a fresh
PostgreSQL database, (1) ingest from ``--threads`` concurrent writers (as many MLLP connections
would: store then ACK, workers off) and (2) a stored backlog applied by in-process workers.
Run it on two versions of the hub in one sitting to compare them:

    .venv/bin/python -m bench.hl7v2.pg_audit --messages 2000 --threads 8

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import zlib
from pathlib import Path

from bench.hl7v2.corpus import generate
from bench.hl7v2.run import _rate, _unprocessed, _wait_processed, hl7_receiver
from bench.pg import temporary_database


def _ingest(url: str, tmp: Path, msgs: list[bytes], threads: int) -> float:
    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.queue.dispatch import NullDispatcher

    hub = bootstrap(
        Settings(data_dir=tmp, database_url=url),
        dispatcher=NullDispatcher(),
        embedded_workers=False,
    )
    service = hl7_receiver(hub)
    # One patient's messages through one writer, in order, as one EHR connection sends them
    # (an S13 stored before its S12 would fail for the bench's sake, not the hub's).
    chunks: list[list[bytes]] = [[] for _ in range(threads)]
    for raw in msgs:
        lane = hub.peekers["hl7v2"](raw).lane_key or ""
        chunks[zlib.crc32(lane.encode()) % threads].append(raw)

    def send(chunk: list[bytes]) -> None:
        for raw in chunk:
            service.handle(raw)

    workers = [threading.Thread(target=send, args=(c,)) for c in chunks]
    t0 = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.perf_counter() - t0
    hub.stop()
    return elapsed


def _process(url: str, tmp: Path, n: int, workers: int) -> tuple[float, int]:
    from hub.bootstrap import bootstrap
    from hub.config import Settings

    hub = bootstrap(Settings(data_dir=tmp, database_url=url, workers=workers))
    t0 = time.perf_counter()
    hub.start_background()
    processed, _ = _wait_processed(hub, n, poll=0.05)
    elapsed = time.perf_counter() - t0
    for line in _unprocessed(hub):
        print(f"  not processed: {line}")
    hub.stop()
    return elapsed, processed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    msgs = generate(args.messages, seed=37)
    with temporary_database(args.pg) as url, tempfile.TemporaryDirectory() as tmp:
        ingest = _ingest(url, Path(tmp), msgs, args.threads)
        process, done = _process(url, Path(tmp), args.messages, args.workers)
    print(f"## PostgreSQL, {args.messages} messages")
    print(
        f"  ingest, {args.threads} concurrent writers, workers off: {_rate(args.messages, ingest)}"
    )
    print(
        f"  processing the backlog, {args.workers} in-process workers: "
        f"{_rate(args.messages, process)} (processed {done})"
    )


if __name__ == "__main__":
    main()
