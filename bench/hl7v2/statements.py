"""SQL statements per message that processing runs, on the embedded default.

Stores N synthetic messages (workers off), then applies them with ``Pipeline.run_batch`` in the
calling thread, counting every statement SQLite executes (its trace callback; each row of an
``executemany`` counts once) and printing them per message, by kind and table. Unlike a time,
the count does not move with the machine's load, so a change to the hot path can be compared
in one run each (docs/adr/0007, addendum 2026-12-05):

    .venv/bin/python -m bench.hl7v2.statements 2000

Printed, never asserted.
"""

from __future__ import annotations

import argparse
import collections
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.hl7v2.corpus import generate
from bench.hl7v2.run import hl7_receiver

_FROM = re.compile(r"\b(?:FROM|INTO)\s+(\w+)", re.I)


def shape(sql: str) -> str:
    """``SELECT messages``, ``INSERT pm_history``, ``SAVEPOINT``...: the kind and first table."""
    words = sql.split()
    if not words:
        return "?"
    kind = words[0].upper()
    if kind == "UPDATE" and len(words) > 1:
        return f"UPDATE {words[1]}"
    found = _FROM.search(sql)
    return f"{kind} {found.group(1)}" if found else kind


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("messages", type=int, nargs="?", default=2000)
    ap.add_argument("--charges", type=float, default=0.1, help="share of DFT messages")
    ap.add_argument("--most", type=int, default=25)
    args = ap.parse_args()

    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.queue.dispatch import NullDispatcher

    n = args.messages
    settings = Settings(data_dir=Path(tempfile.mkdtemp()) / "var", workers=1)
    loader = bootstrap(settings, dispatcher=NullDispatcher(), embedded_workers=False)
    receiver = hl7_receiver(loader)
    for raw in generate(n, seed=31, charges=args.charges):
        receiver.handle(raw)
    loader.stop()

    hub = bootstrap(settings)
    counts: collections.Counter[str] = collections.Counter()
    guard = threading.Lock()

    def traced(sql: str) -> None:
        with guard:
            counts[shape(sql)] += 1

    @event.listens_for(hub.engine, "checkout")
    def _trace(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.set_trace_callback(traced)

    done = 0
    while batch := hub.pipeline.run_batch("bench", limit=settings.worker_batch):
        done += len(batch)
    hub.stop()
    total = sum(counts.values())
    print(f"{done} of {n} messages applied, batches of {settings.worker_batch}")
    print(f"  {total / n:.1f} statement executions a message ({total} in all)")
    for what, count in counts.most_common(args.most):
        print(f"  {count / n:6.2f}  {what}")


if __name__ == "__main__":
    main()
