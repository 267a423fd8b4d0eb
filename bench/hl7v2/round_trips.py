"""PostgreSQL round trips a message costs a ``hub worker``, counted rather than timed.

A worker on PostgreSQL waits on the server for most of its time (ADR 0025, addendum
2026-12-05), so the number of round trips a message takes is the figure to watch. This stores
N synthetic messages on a fresh database (workers off), then drains them lane by lane in the
calling thread exactly as a Celery task does (``Pipeline.drain_lane``, redoable units), and
counts two things in psycopg:

- **statements**: ``Cursor.execute`` and ``Cursor.executemany`` calls, the pool's pings
  included (an ``executemany`` is one exchange: psycopg pipelines its rows);
- **round trips**: those, plus each transaction's ``BEGIN`` (psycopg sends it before the
  first statement) and its ``COMMIT`` or ``ROLLBACK``.

Run it on two trees in one sitting (``PYTHONPATH=<tree>``); counts do not move with the load:

    .venv/bin/python -m bench.hl7v2.round_trips --messages 2000

Printed, never asserted.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.hl7v2.corpus import generate
from bench.hl7v2.run import hl7_receiver
from bench.hl7v2.statements import shape
from bench.pg import temporary_database

_IDLE = psycopg.pq.TransactionStatus.IDLE


class _Counter:
    def __init__(self) -> None:
        self.statements = 0
        self.begins = 0
        self.ends = 0
        self.on = False
        self.shapes: collections.Counter[str] = collections.Counter()

    def wrap(self, fn: Callable[..., Any], field: str) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            # the pool rolls back every connection it gets back; psycopg sends nothing for a
            # connection outside a transaction, so neither does this count
            idle = field == "ends" and args[0].info.transaction_status == _IDLE
            if self.on and not idle:
                setattr(self, field, getattr(self, field) + 1)
                if field == "statements":
                    self.shapes[shape(str(args[1]))] += 1
            return fn(*args, **kwargs)

        return counted


_PATCHED = (
    (psycopg.Cursor, "execute", "statements"),
    (psycopg.Cursor, "executemany", "statements"),
    (psycopg.Connection, "commit", "ends"),
    (psycopg.Connection, "rollback", "ends"),
    # called by psycopg exactly when it is about to send BEGIN
    (psycopg.Connection, "_get_tx_start_command", "begins"),
)


def _count(url: str, tmp: Path, n: int, charges: float) -> tuple[int, _Counter]:
    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.queue.dispatch import NullDispatcher

    settings = Settings(data_dir=tmp, database_url=url)
    hub = bootstrap(settings, dispatcher=NullDispatcher(), embedded_workers=False)
    receiver = hl7_receiver(hub)
    for raw in generate(n, seed=31, charges=charges):
        receiver.handle(raw)
    with hub.engine.connect() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM messages ORDER BY id")]

    counter = _Counter()
    saved = [getattr(cls, attr) for cls, attr, _ in _PATCHED]
    for (cls, attr, field), fn in zip(_PATCHED, saved, strict=True):
        setattr(cls, attr, counter.wrap(fn, field))
    done = 0
    counter.on = True
    try:
        for mid in ids:  # a task per message, in arrival order; a drained one is a no-op
            done += hub.pipeline.drain_lane("bench", mid)
    finally:
        counter.on = False
        for (cls, attr, _), fn in zip(_PATCHED, saved, strict=True):
            setattr(cls, attr, fn)
        hub.stop()
    return done, counter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--charges", type=float, default=0.1, help="share of DFT messages")
    ap.add_argument("--most", type=int, default=25)
    args = ap.parse_args()
    with temporary_database(args.pg) as url, tempfile.TemporaryDirectory() as tmp:
        done, c = _count(url, Path(tmp), args.messages, args.charges)
    n = args.messages
    print(f"## PostgreSQL round trips through drain_lane, {n} messages ({done} applied)")
    print(f"  statements (execute/executemany, pings included): {c.statements / n:.2f} a message")
    print(f"  transactions: {c.begins / n:.2f} a message")
    trips = (c.statements + c.begins + c.ends) / n
    print(f"  round trips (statements, BEGIN, COMMIT/ROLLBACK): {trips:.2f} a message")
    for what, count in c.shapes.most_common(args.most):
        print(f"  {count / n:6.2f}  {what}")


if __name__ == "__main__":
    main()
