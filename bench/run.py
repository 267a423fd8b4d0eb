"""``make bench``: one table, every hub figure beside a ceiling or a peer measured in the same
run, with the issue's aims marked met or missed; printed and written as JSON. Run by hand:

    .venv/bin/python -m bench.run                      # full counts (the better part of an hour)
    .venv/bin/python -m bench.run --quick              # small counts: proves the harness works
    .venv/bin/python -m bench.run --only ingest --only e2e
    .venv/bin/python -m bench.run --out bench/results/latest.json

Sections (``--only``): parse, ingest, e2e, distributed, backlog, x12, fhir. ``distributed``
needs PostgreSQL (``--pg``, an admin URL: a database is created and dropped) and Redis
(``--broker``). Figures are printed, never asserted: read bench/table.py for the columns.
A section that fails prints a row saying so (the run still exits non-zero at the end).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from bench.sections_codecs import fhir_rows, tokenizer_rows, x12_rows
from bench.sections_hl7 import Hl7Run, backlog_rows, distributed_rows, e2e_rows, ingest_rows
from bench.table import Machine, Row, as_json, table_lines, write_json

SECTIONS = ("parse", "ingest", "e2e", "distributed", "backlog", "x12", "fhir")
DEFAULT_OUT = Path("bench/results/latest.json")

# (full, quick) counts
COUNTS = {
    "tokenizer": (10_000, 1_000),
    "ingest": (4_000, 400),
    "e2e": (5_000, 500),
    "backlog": (100_000, 1_000),
    "835": (30_000, 1_000),
    "837": (10_000, 500),
    "tx": (1_000, 200),
    "patients": (100_000, 2_000),
    "reps": (30, 5),
}


def machine(pg_admin: str) -> Machine:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return Machine(
        cores=os.cpu_count() or 0,
        cpu=cpu,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        sqlite=sqlite3.sqlite_version,
        postgresql=_pg_version(pg_admin),
    )


def _pg_version(url: str) -> str:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                return str(conn.exec_driver_sql("SHOW server_version").scalar())
        finally:
            engine.dispose()
    except Exception as exc:  # reported in the machine line, not raised: other rows still run
        return f"unavailable ({type(exc).__name__})"


def _plan(args: argparse.Namespace, tmp: Path) -> list[tuple[str, Callable[[], Iterable[Row]]]]:
    q = 1 if args.quick else 0
    n = {k: v[q] for k, v in COUNTS.items()}
    hl7 = Hl7Run(
        tmp=tmp,
        ingest_n=n["ingest"],
        e2e_n=n["e2e"],
        backlog_n=args.backlog or n["backlog"],
        pg_admin=args.pg,
        broker=args.broker,
        dist_processes=args.dist_processes,
        dist_concurrency=args.dist_concurrency,
        hl7apy_share=0.125 if args.quick else 1.0,
    )
    return [
        ("parse", lambda: tokenizer_rows(n["tokenizer"])),
        ("ingest", lambda: ingest_rows(hl7)),
        ("e2e", lambda: e2e_rows(hl7)),
        ("distributed", lambda: distributed_rows(hl7)),
        ("backlog", lambda: backlog_rows(hl7)),
        ("x12", lambda: x12_rows(n["835"], n["837"])),
        ("fhir", lambda: fhir_rows(n["tx"], n["patients"], n["reps"])),
    ]


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts (minutes, not an hour)")
    ap.add_argument("--only", action="append", choices=SECTIONS, help="repeatable")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON written here")
    ap.add_argument("--backlog", type=int, default=None, help="backlog size (default 100,000)")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/6")
    ap.add_argument("--dist-processes", type=int, default=2, help="hub worker processes")
    ap.add_argument("--dist-concurrency", type=int, default=1, help="children per hub worker")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    box = machine(args.pg)
    print(f"# make bench{' --quick' if args.quick else ''}, {started}")
    print(box.line(), flush=True)
    rows: list[Row] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        for name, section in _plan(args, Path(tmp)):
            if args.only and name not in args.only:
                continue
            print(f"... {name}", file=sys.stderr, flush=True)
            try:
                rows.extend(section())
            except Exception as exc:
                failed = True
                traceback.print_exc()
                rows.append(Row(name, f"{name}: not measured", None, "", note=repr(exc)[:300]))
    print()
    print("\n".join(table_lines(rows)))
    write_json(args.out, as_json(rows, box, quick=args.quick, started=started))
    print(f"\nwritten: {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
