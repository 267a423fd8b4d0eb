"""A 1,000-entry FHIR transaction Bundle into the PM (issue 11, item 10's first figure).

    .venv/bin/python -m bench.fhir_write.run [--entries 1000] [--database-url URL]

Builds a transaction of patients (``urn:uuid`` full URLs), their encounters and appointments
(pointing at the patients' urn:uuid), posts it through the write service exactly as
``POST /fhir`` does (stored raw, one unit, processed in the request), and prints the wall time
and the peak Python memory (tracemalloc) beside the issue's aim (<= 1.5 s). Synthetic data only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from hub.adapters.fhir.negotiation import Format
from hub.bootstrap import bootstrap
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


def measure(entries: int, database_url: str | None = None) -> dict[str, Any]:
    """Seconds and peak traced memory for one ``entries``-entry transaction answered in the
    request, and the ceiling: the same number of bare PM patient row INSERTs, one transaction."""
    from bench.fhir.run import bare_insert

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
            raw = raw.replace(b"urn:hub:mrn:BENCH", b"urn:hub:mrn:BENCH2")
            raw = raw.replace(b'"V0', b'"W0').replace(b'"A0', b'"B0')
            tracemalloc.start()
            start = time.perf_counter()
            done = writes.bundle(raw, Format.JSON, actor="bench")
            elapsed = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            bare = bare_insert(hub, entries)
            return {
                "entries": entries,
                "status": done.status,
                "kib": len(raw) / 1024,
                "seconds": elapsed,
                "peak_mib": peak / 2**20,
                "bare_insert_seconds": bare,
                "database": hub.engine.dialect.name,
            }
        finally:
            hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    r = measure(args.entries, args.database_url)
    print(f"FHIR transaction of {args.entries} entries into the PM ({r['database']})")
    print(f"  status {r['status']}, {r['kib']:.0f} KiB body")
    print(f"  wall {r['seconds']:.2f} s  (aim <= {AIM_SECONDS} s)")
    rate = args.entries / r["seconds"]
    print(f"  {rate:.0f} entries/s, peak Python memory {r['peak_mib']:.1f} MiB")
    print(f"  ceiling: {args.entries} bare patient row INSERTs {r['bare_insert_seconds']:.3f} s")


if __name__ == "__main__":
    main()
