"""CPU cost per message of ingest and processing, in one thread, on the embedded default.

Stores N synthetic messages (workers off), then applies them with ``Pipeline.run_batch`` in the
calling thread, and prints CPU and wall milliseconds per message for each phase. On a shared
machine wall time moves with the load; count instructions instead (start-up cancels out in the
difference of two sizes):

    .venv/bin/python -m bench.hl7v2.processing_cost 3000
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.200 \\
        .venv/bin/python -m bench.hl7v2.processing_cost 200
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.600 \\
        .venv/bin/python -m bench.hl7v2.processing_cost 600
    # (Ir of 600 - Ir of 200) / 400 = instructions per message

``--profile FILE`` writes a cProfile of the processing phase. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from pathlib import Path

from bench.hl7v2.corpus import generate
from bench.hl7v2.run import hl7_receiver


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("messages", type=int, nargs="?", default=3000)
    ap.add_argument("--profile", type=Path, default=None)
    args = ap.parse_args()

    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.queue.dispatch import NullDispatcher

    n = args.messages
    settings = Settings(data_dir=Path(tempfile.mkdtemp()) / "var", workers=1)
    msgs = generate(n, seed=31)
    loader = bootstrap(settings, dispatcher=NullDispatcher(), embedded_workers=False)
    receiver = hl7_receiver(loader)
    cpu, wall = time.process_time(), time.perf_counter()
    for raw in msgs:
        receiver.handle(raw)
    ingest_cpu, ingest_wall = time.process_time() - cpu, time.perf_counter() - wall
    loader.stop()

    hub = bootstrap(settings)
    profile = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    done = 0
    while batch := hub.pipeline.run_batch("bench", limit=settings.worker_batch):
        done += len(batch)
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.profile)
    process_cpu, process_wall = time.process_time() - cpu, time.perf_counter() - wall
    hub.stop()
    print(f"{n} messages, synchronous={'NORMAL' if settings.sqlite_unsafe_normal_sync else 'FULL'}")
    print(
        f"  ingest:     {ingest_cpu / n * 1e3:.3f} ms CPU/msg, "
        f"{ingest_wall / n * 1e3:.3f} ms wall/msg"
    )
    print(
        f"  processing: {process_cpu / n * 1e3:.3f} ms CPU/msg, "
        f"{process_wall / n * 1e3:.3f} ms wall/msg ({done} applied, batches of "
        f"{settings.worker_batch})"
    )


if __name__ == "__main__":
    main()
