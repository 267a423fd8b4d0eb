"""A 1,000-entry FHIR transaction Bundle into the PM (issue 11, item 10's first figure).

    .venv/bin/python -m bench.fhir_write.run [--entries 1000] [--database-url URL] [--reps 3]

``--statements`` also counts the SQL statements the transaction ran (both SQLAlchemy's and the
prepared ones of :mod:`hub.store.prepared`), per entry and by kind; ``--profile`` prints the
cProfile of one run (cumulative). A database URL should name a database of its own: each run
adds its rows (the identifiers differ per run).

Builds a transaction of patients (``urn:uuid`` full URLs), their encounters and appointments
(pointing at the patients' urn:uuid), posts it through the write service exactly as
``POST /fhir`` does (stored raw, one unit, processed in the request), and prints the wall time
and the peak Python memory (tracemalloc) beside the issue's aim (<= 1.5 s). Synthetic data only.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import json
import pstats
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub.adapters.fhir.negotiation import Format
from hub.bootstrap import Hub, bootstrap
from hub.config import Settings
from hub.queue.dispatch import NullDispatcher

AIM_SECONDS = 1.5


def bundle(entries: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    for n in range(entries // 3 + 1):
        if len(found) >= entries:
            break
        url = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        found.append(
            {
                "fullUrl": url,
                "request": {"method": "POST", "url": "Patient"},
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:hub:mrn:BENCH", "value": f"B{n:06d}"}],
                    "name": [{"family": "Benchperson", "given": ["Synth"]}],
                    "gender": "female",
                    "birthDate": "1970-01-01",
                },
            }
        )
        found.append(
            {
                "request": {"method": "POST", "url": "Encounter"},
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "identifier": [{"value": f"V{n:06d}"}],
                    "subject": {"reference": url},
                },
            }
        )
        found.append(
            {
                "request": {"method": "POST", "url": "Appointment"},
                "resource": {
                    "resourceType": "Appointment",
                    "status": "booked",
                    "identifier": [{"system": "urn:bench", "value": f"A{n:06d}"}],
                    "start": "2026-12-03T10:00:00Z",
                    "minutesDuration": 20,
                    "participant": [{"actor": {"reference": url}, "status": "accepted"}],
                },
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": found[:entries]}


def count_statements(hub: Hub) -> collections.Counter[str]:
    """Every statement the hub runs from now on, by its first words."""
    from hub.store import prepared

    counts: collections.Counter[str] = collections.Counter()

    def head(sql: str) -> str:
        return " ".join(sql.split()[:6])[:90]

    def seen(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        counts[head(statement)] += 1

    sa.event.listen(hub.engine, "before_cursor_execute", seen)
    run_one, run_many = prepared.Prepared.run, prepared.Prepared.run_many

    def counted(self: Any, conn: Any, params: Any = None) -> Any:
        form = self._form(conn.dialect, params or {})
        if not form.fallback:
            counts[head(form.sql)] += 1
        return run_one(self, conn, params)

    def counted_many(self: Any, conn: Any, rows: Any) -> Any:
        if rows and not self._form(conn.dialect, rows[0]).fallback:
            counts[head(self._form(conn.dialect, rows[0]).sql)] += 1
        return run_many(self, conn, rows)

    prepared.Prepared.run = counted  # type: ignore[method-assign]
    prepared.Prepared.run_many = counted_many  # type: ignore[method-assign]
    return counts


def variant(raw: bytes, n: int) -> bytes:
    """The Bundle with identifiers of its own (run ``n``): every run creates new rows."""
    tag = f"{n:02d}".encode()
    out = raw.replace(b"urn:hub:mrn:BENCH", b"urn:hub:mrn:BENCH" + tag)
    return out.replace(b'"V0', b'"V' + tag).replace(b'"A0', b'"A' + tag)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=args.database_url,
            fhir_async_entries=args.entries + 1,  # answered in the request
        )
        hub = bootstrap(settings, dispatcher=NullDispatcher())
        try:
            writes = hub.protocols["fhir"].receiver.writes  # type: ignore[attr-defined]
            raw = json.dumps(bundle(args.entries)).encode()
            # warm-up (a running server has done this once): the R4B model classes load on
            # first use, and the first statements compile
            writes.bundle(json.dumps(bundle(3)).encode(), Format.JSON, actor="bench")
            kind = "PostgreSQL" if args.database_url else "SQLite"
            print(f"FHIR transaction of {args.entries} entries into the PM ({kind})")
            print(f"  {len(raw) / 1024:.0f} KiB body")
            counts = count_statements(hub) if args.statements else None
            walls = []
            for rep in range(args.reps):
                body = variant(raw, rep + 1)
                if counts is not None:
                    counts.clear()
                profile = cProfile.Profile() if args.profile and rep == 0 else None
                tracemalloc.start()
                start = time.perf_counter()
                if profile is not None:
                    profile.enable()
                done = writes.bundle(body, Format.JSON, actor="bench")
                elapsed = time.perf_counter() - start
                if profile is not None:
                    profile.disable()
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                walls.append(elapsed)
                rate, mib = args.entries / elapsed, peak / 2**20
                print(
                    f"  run {rep + 1}: status {done.status}, wall {elapsed:.2f} s "
                    f"(aim <= {AIM_SECONDS} s), {rate:.0f} entries/s, "
                    f"peak Python memory {mib:.1f} MiB"
                )
                if profile is not None:
                    pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
            if len(walls) > 1:
                print(f"  best {min(walls):.2f} s, median {sorted(walls)[len(walls) // 2]:.2f} s")
            if counts is not None:
                total = sum(counts.values())
                print(f"  SQL statements (last run): {total}, {total / args.entries:.1f} per entry")
                for what, n in counts.most_common(12):
                    print(f"    {n:6d}  {what}")
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
