"""FHIR benchmarks (issue 11 item 10): printed beside a ceiling measured in the same run, never
asserted. Run by hand:

    .venv/bin/python -m bench.fhir.run                 # 100,000 patients on SQLite
    .venv/bin/python -m bench.fhir.run --patients 10000
    HUB_DATABASE_URL=postgresql+psycopg://... .venv/bin/python -m bench.fhir.run

Sections:
1. a 1,000-entry transaction Bundle (Patients, Encounters) through ``POST /fhir``: time and
   peak traced memory, beside the same rows written straight into the PM tables (the ceiling);
   skipped with a note when the write side is not installed;
2. search latency over N patients seeded in bulk straight into the PM tables: ``GET /fhir/Patient``
   by identifier, family, birthdate and a plain page, p50/p95 over the HTTP API, beside the bare
   SQL lookup of the same criterion (the ceiling);
3. a bulk export of them (``ExportService.run``: keyset batches, NDJSON): time, resources/s and
   peak traced memory, beside a bare ``SELECT`` streamed to NDJSON (the ceiling).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.bootstrap import Hub, bootstrap
from hub.config import Settings
from hub.queue.dispatch import NullDispatcher
from hub.services.fhir_export import ExportService
from hub.store import keys
from hub.store.keys import Role
from hub.store.pm_tables import patient_identifiers, patients

FAMILIES = [f"Fam{n:04d}" for n in range(2000)]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def seed(hub: Hub, n: int) -> None:
    """N patients (and their MRN identifiers) inserted in batches of 5,000."""
    rng = random.Random(7)
    batch = 5000
    with hub.engine.begin() as conn:
        first = int(conn.execute(sa.select(sa.func.max(patients.c.id))).scalar() or 0) + 1
        for start in range(0, n, batch):
            rows = [
                {
                    "id": first + i,
                    "facility": "BENCH",
                    "mrn": f"MRN{i:07d}",
                    "family_name": FAMILIES[i % len(FAMILIES)],
                    "given_name": f"Given{i % 97}",
                    "birth_date": date(1940, 1, 1) + timedelta(days=rng.randrange(30000)),
                    "sex": "female" if i % 2 else "male",
                    "address": {"line": [f"{i} Bench St"], "city": "Springfield"},
                    "telecom": [{"system": "phone", "use": "home", "value": f"555-{i:07d}"}],
                    "active": 1,
                    "deceased": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                    "version": 1,
                }
                for i in range(start, min(n, start + batch))
            ]
            conn.execute(sa.insert(patients), rows)
            conn.execute(
                sa.insert(patient_identifiers),
                [
                    {
                        "patient_id": r["id"],
                        "value": r["mrn"],
                        "assigning_authority": "BENCH",
                        "type_code": "MR",
                        "facility": "BENCH",
                        "version": 1,
                        "updated_at": NOW,
                    }
                    for r in rows
                ],
            )


def timed(fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def search_figures(hub: Hub, api: TestClient, n: int, reps: int) -> dict[str, dict[str, float]]:
    """p50/p95 (ms) per criterion over the HTTP API, and of the bare SQL lookup (ceiling)."""
    mrn = f"MRN{n // 2:07d}"  # one patient in the middle of the seeded ones
    cases = {
        "identifier": (
            f"/fhir/Patient?identifier={mrn}",
            sa.select(patient_identifiers.c.patient_id).where(patient_identifiers.c.value == mrn),
        ),
        "family": (
            "/fhir/Patient?family=Fam0042&_count=20",
            sa.select(patients.c.id).where(patients.c.family_name.like("Fam0042%")).limit(20),
        ),
        "birthdate": (
            "/fhir/Patient?birthdate=1970-05-05&_count=20",
            sa.select(patients.c.id).where(patients.c.birth_date == date(1970, 5, 5)).limit(20),
        ),
        "page (_count=50)": (
            "/fhir/Patient?_count=50",
            sa.select(patients).order_by(patients.c.id).limit(50),
        ),
    }
    out = {}
    for name, (url, stmt) in cases.items():
        r = api.get(url)
        assert r.status_code == 200, r.text

        def sql(stmt: Any = stmt) -> None:
            with hub.engine.connect() as conn:
                conn.execute(stmt).all()

        h50, h95 = timed(lambda url=url: api.get(url), reps)
        s50, s95 = timed(sql, reps)
        out[name] = {"p50": h50, "p95": h95, "bare_p50": s50, "bare_p95": s95}
    return out


def search_section(hub: Hub, api: TestClient, n: int, reps: int) -> None:
    print(f"\n2. search latency over {n:,} patients ({reps} requests each; ms p50 / p95)")
    print(f"   {'criterion':<18}{'hub FHIR search':>22}{'bare SQL (ceiling)':>24}")
    for name, f in search_figures(hub, api, n, reps).items():
        h50, h95, s50, s95 = f["p50"], f["p95"], f["bare_p50"], f["bare_p95"]
        print(f"   {name:<18}{h50:>12.1f} / {h95:>6.1f}{s50:>14.2f} / {s95:>6.2f}")


class RssPeak:
    """Peak resident memory above the starting point, sampled from /proc every 10 ms in a
    thread (tracemalloc would slow the measured work several-fold)."""

    def __init__(self) -> None:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def grown_mb(self) -> float:
        return (self.peak - self.base) / 1e6


def _rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def export_section(hub: Hub, n: int, tmp: Path) -> None:
    print(f"\n3. bulk export of {n:,} patients (NDJSON)")
    service = ExportService(
        uow=hub.uow, clock=hub.clock, root=tmp / "exports", start=lambda w: None
    )
    job = service.kick_off(types=["Patient"], since=None, key_id=None, request_url="bench")
    with RssPeak() as mem:
        t = time.perf_counter()
        service.run(job)
        seconds = time.perf_counter() - t
    size = (tmp / "exports" / job / "Patient.ndjson").stat().st_size
    print(
        f"   hub export:          {seconds:6.2f} s  {n / seconds:>9,.0f} resources/s  "
        f"peak RSS {mem.peak / 1e6:6.1f} MB (+{mem.grown_mb:.1f})  file {size / 1e6:.1f} MB"
    )
    mem = RssPeak().__enter__()
    t = time.perf_counter()
    with hub.engine.connect() as conn, (tmp / "bare.ndjson").open("w") as out:
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(
            sa.select(patients)
        )
        for row in result:
            out.write(json.dumps(dict(row._mapping), default=str) + "\n")
    bare = time.perf_counter() - t
    mem.__exit__()
    print(
        f"   bare SELECT->NDJSON: {bare:6.2f} s  {n / bare:>9,.0f} rows/s     "
        f"peak RSS {mem.peak / 1e6:6.1f} MB (+{mem.grown_mb:.1f})  (ceiling: no mapping, no FHIR)"
    )


def bare_insert(hub: Hub, n: int) -> float:
    """Seconds to INSERT ``n`` bare patient rows in one transaction (no FHIR, no PM rules)."""
    t = time.perf_counter()
    with hub.engine.begin() as conn:
        base = 10_000_000
        conn.execute(
            sa.insert(patients),
            [
                {
                    "id": base + i,
                    "facility": "TXBARE",
                    "mrn": f"B{i}",
                    "family_name": f"Tx{i}",
                    "created_at": NOW,
                    "updated_at": NOW,
                    "version": 1,
                }
                for i in range(n)
            ],
        )
    return time.perf_counter() - t


def search_measure(patients_n: int, reps: int) -> dict[str, dict[str, float]]:
    """A fresh SQLite hub (or ``HUB_DATABASE_URL``) seeded with ``patients_n`` patients, then
    :func:`search_figures` over the HTTP API."""
    with tempfile.TemporaryDirectory(prefix="hub-bench-fhir-") as tmp_name:
        tmp = Path(tmp_name)
        url = os.environ.get("HUB_DATABASE_URL") or f"sqlite:///{tmp}/hub.db"
        hub = bootstrap(
            Settings(data_dir=tmp, database_url=url),
            dispatcher=NullDispatcher(),
            embedded_workers=False,
        )
        try:
            with hub.uow() as uow:
                _, tok = keys.create(uow.conn, name="bench", role=Role.ADMIN, now=hub.clock.now())
                uow.commit()
            seed(hub, patients_n)
            with TestClient(create_app(hub)) as api:
                api.headers["Authorization"] = f"Bearer {tok}"
                return search_figures(hub, api, patients_n, reps)
        finally:
            hub.stop()


def transaction_section(api: TestClient, hub: Hub) -> None:
    print("\n1. a 1,000-entry transaction Bundle into the PM")
    entries = []
    for i in range(500):
        pid = f"urn:uuid:00000000-0000-4000-8000-{i:012d}"
        entries.append(
            {
                "fullUrl": pid,
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:bench:mrn", "value": f"TX{i:06d}"}],
                    "name": [{"family": f"Tx{i}", "given": ["Bench"]}],
                    "gender": "female",
                    "birthDate": "1980-01-01",
                },
                "request": {"method": "POST", "url": "Patient"},
            }
        )
        entries.append(
            {
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "AMB",
                    },
                    "identifier": [{"system": "urn:bench:visit", "value": f"TV{i:06d}"}],
                    "subject": {"reference": pid},
                    "period": {"start": "2026-11-01T09:00:00Z"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            }
        )
    bundle = json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    with RssPeak() as mem:
        t = time.perf_counter()
        r = api.post("/fhir", content=bundle, headers={"Content-Type": "application/fhir+json"})
        if r.status_code == 202:  # over the synchronous size limit: queued, as a client sees it
            while hub.pipeline.run_next("bench") is not None:
                pass
            status_url = "/fhir/" + r.headers["Content-Location"].split("/fhir/", 1)[1]
            r = api.get(status_url)
        seconds = time.perf_counter() - t
    if r.status_code in (404, 405):
        print("   skipped: this hub has no transaction support (the FHIR write side)")
        return
    failure = "" if r.status_code == 200 else " " + r.text[:200]
    print(
        f"   hub POST /fhir (202, queue, status): {seconds:6.2f} s  HTTP {r.status_code}{failure}"
        f"  peak RSS {mem.peak / 1e6:6.1f} MB (+{mem.grown_mb:.1f})  (aim: <= 1.5 s)"
    )
    bare = bare_insert(hub, 1000)
    print(f"   bare 1,000 row INSERT: {bare:6.3f} s  (ceiling: no FHIR, no PM rules)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-bench-fhir-") as tmp_name:
        tmp = Path(tmp_name)
        url = os.environ.get("HUB_DATABASE_URL") or f"sqlite:///{tmp}/hub.db"
        settings = Settings(data_dir=tmp, database_url=url)
        hub = bootstrap(settings, dispatcher=NullDispatcher(), embedded_workers=False)
        try:
            with hub.uow() as uow:
                _, tok = keys.create(uow.conn, name="bench", role=Role.ADMIN, now=hub.clock.now())
                uow.commit()
            print(f"database: {hub.engine.dialect.name}")
            with TestClient(create_app(hub)) as api:
                api.headers["Authorization"] = f"Bearer {tok}"
                transaction_section(api, hub)
                t = time.perf_counter()
                seed(hub, args.patients)
                print(
                    f"\n   (seeded {args.patients:,} patients in {time.perf_counter() - t:.1f} s)"
                )
                search_section(hub, api, args.patients, args.reps)
            export_section(hub, args.patients, tmp)
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
