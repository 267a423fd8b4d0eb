"""A 1,000-entry FHIR transaction Bundle into the PM (issue 11, item 10's first figure).

    .venv/bin/python -m bench.fhir_write.run [--entries 1000] [--database-url URL] [--reps 3]

``--statements`` also counts the SQL statements the transaction ran (both SQLAlchemy's and the
prepared ones of :mod:`hub.store.prepared`), per entry and by kind; ``--profile`` prints the
cProfile of the first run (cumulative). Each run writes rows of its own (its identifiers
differ), so runs on one database do not collide.

Builds a transaction of patients (``urn:uuid`` full URLs), their encounters and appointments
(pointing at the patients' urn:uuid), posts it through the write service exactly as
``POST /fhir`` does (stored raw, one unit, processed in the request), and prints the wall time
and the CPU time of this process for each run beside the issue's aim (<= 1.5 s), the peak
resident memory the runs added (sampled every 10 ms), and the peak Python memory of one more
run under tracemalloc (not timed: tracing slows Python several-fold). Synthetic data only.
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


def measure(
    entries: int,
    database_url: str | None = None,
    *,
    reps: int = 1,
    statements: bool = False,
    profile: bool = False,
) -> dict[str, Any]:
    """Seconds (the best of ``reps`` runs, each in ``runs``, their CPU seconds in ``cpu``),
    the peak resident memory they added (``rss_mib``), the peak traced memory of one more run
    (``peak_mib``), and the ceiling: the same number of bare PM patient row INSERTs, one
    transaction. ``statements``: the last timed run's SQL statements by kind; ``profile``: the
    first run's cProfile, printed."""
    from bench.fhir.run import RssPeak, bare_insert

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=database_url,
            fhir_async_entries=entries + 1,  # answered in the request
        )
        hub = bootstrap(settings, dispatcher=NullDispatcher())
        try:
            writes = hub.protocols["fhir"].receiver.writes  # type: ignore[attr-defined]
            raw = json.dumps(bundle(entries)).encode()
            # warm-up (a running server has done this once): the R4B model classes load on
            # first use, and the first statements compile
            writes.bundle(json.dumps(bundle(3)).encode(), Format.JSON, actor="bench")
            counts = count_statements(hub) if statements else None
            runs: list[float] = []
            cpu: list[float] = []
            status = 0
            with RssPeak() as rss:
                for rep in range(max(1, reps)):
                    body = variant(raw, rep + 1)
                    if counts is not None:
                        counts.clear()
                    prof = cProfile.Profile() if profile and rep == 0 else None
                    start, start_cpu = time.perf_counter(), time.process_time()
                    if prof is not None:
                        prof.enable()
                    done = writes.bundle(body, Format.JSON, actor="bench")
                    if prof is not None:
                        prof.disable()
                    runs.append(time.perf_counter() - start)
                    cpu.append(time.process_time() - start_cpu)
                    if prof is not None:
                        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
                    status = done.status
            counted = dict(counts) if counts is not None else None
            tracemalloc.start()
            writes.bundle(variant(raw, max(1, reps) + 1), Format.JSON, actor="bench")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            bare = bare_insert(hub, entries)
            return {
                "entries": entries,
                "status": status,
                "kib": len(raw) / 1024,
                "seconds": min(runs),
                "runs": runs,
                "cpu": cpu,
                "rss_mib": rss.grown_mb * 1e6 / 2**20,
                "peak_mib": peak / 2**20,
                "bare_insert_seconds": bare,
                "database": hub.engine.dialect.name,
                "statements": counted,
            }
        finally:
            hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    r = measure(
        args.entries,
        args.database_url,
        reps=args.reps,
        statements=args.statements,
        profile=args.profile,
    )
    print(f"FHIR transaction of {args.entries} entries into the PM ({r['database']})")
    print(f"  status {r['status']}, {r['kib']:.0f} KiB body")
    for n, (seconds, cpu) in enumerate(zip(r["runs"], r["cpu"], strict=True), 1):
        rate = args.entries / seconds
        print(
            f"  run {n}: wall {seconds:.2f} s  (aim <= {AIM_SECONDS} s), {rate:.0f} entries/s;"
            f" CPU of this process {cpu:.2f} s"
        )
    print(
        f"  best {r['seconds']:.2f} s; peak RSS added {r['rss_mib']:.1f} MiB;"
        f" peak Python memory (one traced run) {r['peak_mib']:.1f} MiB"
    )
    print(f"  ceiling: {args.entries} bare patient row INSERTs {r['bare_insert_seconds']:.3f} s")
    if r["statements"] is not None:
        kinds = collections.Counter(r["statements"])
        total = sum(kinds.values())
        print(f"  SQL statements (last run): {total}, {total / args.entries:.1f} per entry")
        for what, n in kinds.most_common(12):
            print(f"    {n:6d}  {what}")


if __name__ == "__main__":
    main()
