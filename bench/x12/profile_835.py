"""Where posting an 835 goes: time, SQL statements per claim and a cProfile, on SQLite or
PostgreSQL, for the direct post (``PostClaimPayment`` through ``SqlPm.apply_all``, 200 claims
per transaction, as bench_835's post phase) or the queue path (receiver, split, work items).

    .venv/bin/python bench/x12/profile_835.py [--claims 3000] [--mode post|pipeline]
        [--batch 0|N] [--database-url URL] [--profile N]

``--batch 0`` drains the queue with ``Pipeline.run_next`` (one item per transaction), ``N``
with ``Pipeline.run_batch(limit=N)`` (what the embedded workers do, ``HUB_WORKER_BATCH``).
``--database-url`` takes a PostgreSQL server URL; a fresh database is created and dropped.
Statements are counted at the driver: on SQLite every statement the library runs
(``set_trace_callback``: an executemany counts once per row, BEGIN/SAVEPOINT count too), on
PostgreSQL every ``cursor.execute``/``executemany`` call (one round trip each). It imports
``hub`` from ``sys.path``, so the same file measures another checkout
(``PYTHONPATH=/path/to/checkout python bench/x12/profile_835.py``). Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[2]))  # bench.* when run as a file

COUNT = {"n": 0}


def _count_sqlite(engine: Any) -> None:
    import sqlalchemy as sa

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(lambda _sql: COUNT.__setitem__("n", COUNT["n"] + 1))

    sa.event.listen(engine, "connect", on_connect)
    engine.dispose()  # pooled connections come back with the callback


def _count_psycopg() -> None:
    import psycopg

    for name in ("execute", "executemany"):
        original = getattr(psycopg.Cursor, name)

        def counted(self: Any, *a: Any, _o: Any = original, **k: Any) -> Any:
            COUNT["n"] += 1
            return _o(self, *a, **k)

        setattr(psycopg.Cursor, name, counted)


@contextmanager
def _database(url: str | None) -> Iterator[str | None]:
    if url is None:
        yield None
        return
    from bench.pg import temporary_database

    with temporary_database(url) as made:
        yield made


def _parts(path: Path) -> Iterator[Any]:
    from bench.x12.bench_835 import _parts as parts

    return parts(path)


def post_direct(hub: Any, path: Path) -> int:
    """bench_835's post phase, in process: balance, then 200 claims per transaction."""
    from bench.x12.bench_835 import POST_BATCH
    from hub.adapters.x12.readers.balancing import BalanceReport
    from hub.adapters.x12.readers.remittance import ClaimRemit, RemitHeader
    from hub.mappings import x12_remittance
    from hub.pm.billing_changes import PostClaimPayment
    from hub.store.pm_repo import SqlPm, Stamp

    now = datetime(2026, 12, 1, tzinfo=UTC)
    report = BalanceReport()
    for part in _parts(path):
        report.add(part)
    report.finish()
    assert report.balanced
    header: Any = None
    pending: list[Any] = []
    posted = 0

    def post(batch: list[Any]) -> None:
        remittance = x12_remittance.remittance(header)
        with hub.uow() as uow:
            pm = SqlPm(uow.conn, Stamp(None, now, "bench"))
            pm.apply_all(
                PostClaimPayment(remittance, x12_remittance.claim_payment(c), c.sequence, "bench")
                for c in batch
            )
            uow.commit()

    for part in _parts(path):
        if isinstance(part, RemitHeader):
            header = part
        elif isinstance(part, ClaimRemit):
            pending.append(part)
            if len(pending) >= POST_BATCH:
                post(pending)
                posted += len(pending)
                pending = []
    post(pending)
    return posted + len(pending)


def post_pipeline(hub: Any, path: Path, batch: int) -> int:
    receiver = hub.receiver("x12")
    receiver.submit(path.read_bytes())
    processed = 0
    if batch == 0:
        while hub.pipeline.run_next("bench") is not None:
            processed += 1
    else:
        while True:
            outcomes = hub.pipeline.run_batch("bench", limit=batch)
            if not outcomes:
                break
            processed += len(outcomes)
    return processed - 1  # the document itself


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--claims", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=835)
    ap.add_argument("--mode", choices=("post", "pipeline"), default="post")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--database-url")
    ap.add_argument("--profile", type=int, default=0, help="print the top N cProfile entries")
    args = ap.parse_args()

    from bench.x12.bench_835 import _seed, generate
    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.queue.dispatch import NullDispatcher

    with tempfile.TemporaryDirectory() as d, _database(args.database_url) as url:
        tmp = Path(d)
        path = tmp / "bench.835"
        generate(path, args.claims, args.seed)
        kw: dict[str, Any] = {"data_dir": tmp / "var"}
        if url is not None:
            kw["database_url"] = url
        hub = bootstrap(Settings(**kw), dispatcher=NullDispatcher())
        now = datetime(2026, 12, 1, tzinfo=UTC)
        for start in range(0, args.claims, 5000):
            with hub.uow() as uow:
                _seed(uow.conn, range(start + 1, min(start + 5000, args.claims) + 1), now)
                uow.commit()
        if url is None:
            _count_sqlite(hub.engine)
        else:
            _count_psycopg()
        COUNT["n"] = 0
        prof = cProfile.Profile() if args.profile else None
        start_t, start_cpu = time.perf_counter(), time.process_time()
        if prof is not None:
            prof.enable()
        if args.mode == "post":
            done = post_direct(hub, path)
        else:
            done = post_pipeline(hub, path, args.batch)
        if prof is not None:
            prof.disable()
        seconds = time.perf_counter() - start_t
        cpu = time.process_time() - start_cpu
        statements = COUNT["n"]
        hub.stop()
    db = "postgresql" if url else "sqlite"
    how = args.mode if args.mode == "post" else f"pipeline batch={args.batch}"
    print(
        f"{db} {how}: {done} claims in {seconds:.2f} s ({done / seconds:.0f} claims/s, "
        f"CPU {cpu:.2f} s, load {os.getloadavg()[0]:.1f}); "
        f"{statements} statements, {statements / max(done, 1):.1f} per claim"
    )
    if prof is not None:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
