"""The console's message search on a million stored messages (SQLite): printed, never asserted.

    .venv/bin/python -m bench.console.bench_search                 # 1,000,000 messages
    .venv/bin/python -m bench.console.bench_search --messages 200000

Seeds the hub's own schema (migrations applied by the composition root) with synthetic
messages: a few senders, ADT/SIU/DFT types, 2 % failed, 20,000 patients, a received_at spread
over 30 days, a 600-byte body each (the bodies are there to be *not* read). Then times each
console filter the way the console runs it (``hub.services.console_messages.search``: one page
of 25, newest first, keyset) for the first page and for a page deep in the results, beside the
ceiling an analyst would notice (100 ms a page) and beside a body scan (``LIKE`` over ``raw``)
as the peer the indexes avoid.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from hub.bootstrap import Hub, bootstrap
from hub.config import Settings
from hub.queue.dispatch import NullDispatcher
from hub.services.console_messages import search
from hub.services.reads import Actor
from hub.store.lifecycle import Status
from hub.store.messages import MessageFilter
from hub.store.tables import message_patients, messages

CEILING_MS = 100.0
SENDERS = ["EHRX|NORTHCLINIC", "EHRY|SOUTHCLINIC", "LAB|CENTRAL", "PORTAL|WEB"]
TYPES = ["ADT^A04", "ADT^A08", "ADT^A03", "SIU^S12", "SIU^S14", "SIU^S26", "DFT^P03"]
BODY = b"MSH|^~\\&|" + b"X" * 590


def seed(engine: sa.Engine, n: int, rng: random.Random) -> None:
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / n
    batch = 20_000
    with engine.begin() as conn:
        for first in range(0, n, batch):
            rows, refs = [], []
            for i in range(first, min(n, first + batch)):
                failed = rng.random() < 0.02
                at = start + step * i
                mrn = f"MRN{rng.randrange(20_000):05d}"
                rows.append(
                    {
                        "id": i + 1,
                        "protocol": "hl7v2",
                        "direction": "in",
                        "sender": rng.choice(SENDERS),
                        "receiver": "HUB|PRACTICE",
                        "control_id": f"C{i:08d}",
                        "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
                        "type": rng.choice(TYPES),
                        "status": Status.FAILED.value if failed else Status.PROCESSED.value,
                        "received_at": at,
                        "updated_at": at,
                        "attempt_count": 1,
                        "replay_requested": 0,
                        "raw": BODY,
                        "last_error_code": "data_type" if failed else None,
                    }
                )
                refs.append({"message_id": i + 1, "patient_ref": mrn})
            conn.execute(sa.insert(messages), rows)
            conn.execute(sa.insert(message_patients), refs)
        conn.exec_driver_sql("ANALYZE")


def timed(fn: object, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def _forty_pages_on(hub: Hub, flt: MessageFilter, actor: Actor) -> MessageFilter:
    """The filter of the 41st page (the keyset walked 40 pages deep), or of the last one."""
    current = flt
    for _ in range(40):
        last = search(hub.uow, hub.clock, current, actor).last
        if last is None:
            break
        at = datetime.fromisoformat(last["received_at"]) if flt.by_time else None
        current = replace(flt, after_id=last["id"], after_at=at)
    return current


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = random.Random(12)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), sqlite_unsafe_normal_sync=True)
        hub = bootstrap(settings, dispatcher=NullDispatcher(), embedded_workers=False)
        t0 = time.perf_counter()
        seed(hub.engine, args.messages, rng)
        print(f"seeded {args.messages:,} messages in {time.perf_counter() - t0:.0f} s")
        size = sum(p.stat().st_size for p in Path(tmp).glob("hub.db*"))
        print(f"database: {size / 1e6:,.0f} MB\n")
        actor = Actor.cli_user()
        now = datetime.now(UTC)
        cases = {
            "status failed": MessageFilter(status=Status.FAILED),
            "type ADT^A08": MessageFilter(type="ADT^A08"),
            "type family SIU": MessageFilter(type="SIU"),
            "protocol hl7v2": MessageFilter(protocol="hl7v2"),
            "sender LAB|CENTRAL": MessageFilter(sender="LAB|CENTRAL"),
            "patient MRN00042": MessageFilter(patient="MRN00042"),
            "control id": MessageFilter(control_id=f"C{args.messages // 2:08d}"),
            "last 24 hours": MessageFilter(since=now - timedelta(hours=24), by_time=True),
            "a day last week": MessageFilter(
                since=now - timedelta(days=8), until=now - timedelta(days=7), by_time=True
            ),
            "failed + sender": MessageFilter(status=Status.FAILED, sender="EHRX|NORTHCLINIC"),
            "no filter": MessageFilter(),
        }
        head = f"{'filter':<22}{'page 1':>10}{'page 41':>10}"
        print(head + f"   (ms, median of 5; ceiling {CEILING_MS:.0f})")
        for name, given in cases.items():
            flt = replace(given, limit=25)
            deep = _forty_pages_on(hub, flt, actor)

            def first(flt: MessageFilter = flt) -> object:
                return search(hub.uow, hub.clock, flt, actor)

            def later(flt: MessageFilter = deep) -> object:
                return search(hub.uow, hub.clock, flt, actor)

            print(f"{name:<22}{timed(first):>10.1f}{timed(later):>10.1f}")
        with hub.engine.connect() as conn:
            t0 = time.perf_counter()
            needle = sa.literal(b"MRN00042", sa.LargeBinary())
            conn.execute(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(sa.func.instr(messages.c.raw, needle) > 0)
            ).scalar()
            scan = (time.perf_counter() - t0) * 1000
        print(f"\npeer: one body scan (instr over raw): {scan:,.0f} ms")
        hub.stop()


if __name__ == "__main__":
    main()
