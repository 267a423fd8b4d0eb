"""WAL pages one receipt writes: printed, never asserted (docs/adr/0026).

    .venv/bin/python -m bench.hl7v2.receipt_pages [N]

Ingests N synthetic messages through the HL7 v2 receiver (workers off) into a fresh SQLite
database with WAL autocheckpoint off, and prints the WAL frames (4 KiB pages) and the CPU time
of this process per receipt. Deterministic, so it compares versions on a busy machine.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.hl7v2.corpus import generate


def main() -> None:
    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.queue.dispatch import NullDispatcher

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        hub = bootstrap(settings, dispatcher=NullDispatcher(), embedded_workers=False)

        @sa.event.listens_for(hub.engine, "connect")
        def _no_autocheckpoint(dbapi: Any, _record: Any) -> None:
            dbapi.execute("PRAGMA wal_autocheckpoint=0")

        hub.engine.dispose()
        raw = sqlite3.connect(Path(tmp) / "hub.db", isolation_level=None)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        wal = Path(tmp) / "hub.db-wal"
        handle = hub.receiver("hl7v2").handle
        msgs = generate(n, seed=5)
        start = wal.stat().st_size if wal.exists() else 0
        t0 = time.process_time()
        for m in msgs:
            handle(m)
        cpu = time.process_time() - t0
        frames = (wal.stat().st_size - max(start, 32)) / (4096 + 24)
        hub.stop()
    print(f"{n} receipts: {frames / n:.1f} WAL frames and {cpu / n * 1e6:.0f} us CPU per receipt")


if __name__ == "__main__":
    main()
