"""HL7 v2 rows of the table: MLLP ingest beside the bare loop and two peers, end to end
(embedded and distributed) with the order-violation count, and a stored backlog.

Every hub figure comes from a real ``hub serve`` subprocess (:mod:`bench.hubproc`) fed by the
one client (:mod:`bench.mllp_client`) over loopback, except the backlog, which is stored with
the workers off and then timed from the workers' start, in process (as ``bench.hl7v2.run`` does).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.hl7v2.corpus import generate
from bench.hl7v2.run import backlog_figures
from bench.hubproc import hub_serve
from bench.mllp_client import Drive, drive
from bench.ordering import order_violations, read_applied
from bench.peers import peer
from bench.pg import temporary_database
from bench.table import Aim, Ref, Row

CHARGES = 0.1  # share of DFT^P03 among the messages about a registered patient
INGEST_AIM = Aim(">=", 0.70, on="ratio")  # of the bare loop, 4 connections, processing on
P99_AIM = Aim("<=", 10.0)  # ms
E2E_AIM = Aim(">=", 1000.0)  # msgs/s, embedded default
DIST_AIM = Aim(">=", 600.0)  # msgs/s, PostgreSQL + Redis + hub worker
ORDER_AIM = Aim("<=", 0.0)  # order violations
BACKLOG_AIM = Aim(">=", 2000.0)  # msgs/s


@dataclass
class Hl7Run:
    """Counts and shared state of one table run: the bare loop is measured once per connection
    count and reused by every row compared with it."""

    tmp: Path
    ingest_n: int
    e2e_n: int
    backlog_n: int
    pg_admin: str
    broker: str
    dist_processes: int = 2
    dist_concurrency: int = 1
    connections: tuple[int, ...] = (1, 4, 16)
    hl7apy_share: float = 1.0  # of the ingest corpus sent to hl7apy (about 30 msgs/s here)
    bare: dict[int, Drive] = field(default_factory=dict)
    e2e_rate: float | None = None

    def bare_loop(self, conns: int) -> Drive:
        if conns not in self.bare:
            msgs = generate(self.ingest_n, seed=11, charges=CHARGES)
            with peer("bare", self.tmp) as port:
                self.bare[conns] = drive(port, msgs, conns)
        return self.bare[conns]


def _counts_note(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def ingest_rows(run: Hl7Run) -> Iterator[Row]:
    msgs = generate(run.ingest_n, seed=11, charges=CHARGES)
    few = msgs[: max(50, int(len(msgs) * run.hl7apy_share))]
    for conns in run.connections:
        bare = run.bare_loop(conns)
        with peer("python-hl7", run.tmp) as port:
            phl7 = drive(port, msgs, conns)
        with peer("hl7apy", run.tmp) as port:
            apy = drive(port, few, conns, reconnect=True)
        with hub_serve(run.tmp / f"ingest{conns}-{uuid.uuid4().hex[:6]}") as hub:
            got = drive(hub.mllp_port, msgs, conns)
            counts = hub.wait_processed()
        note = (
            f"{len(msgs)} messages (hl7apy: the first {len(few)}; it closes the connection after "
            f"each ACK, so the client reconnects per message); hub then: {_counts_note(counts)}"
        )
        if got.rejected:
            note += f"; {got.rejected} answered AE/AR"
        label = f"MLLP ingest, {conns} conn, processing on"
        yield Row(
            "ingest",
            label,
            got.rate,
            "msgs/s",
            refs=(
                Ref("bare store-then-ACK", bare.rate),
                Ref("python-hl7 + SQLite", phl7.rate, "peer"),
                Ref("hl7apy parse+ACK", apy.rate, "peer"),
            ),
            aim=INGEST_AIM if conns == 4 else None,
            note=note,
        )
        for name, q in (("p50", "p50_ms"), ("p99", "p99_ms")):
            yield Row(
                "ingest",
                f"ACK {name}, {conns} conn",
                getattr(got, q),
                "ms",
                better="lower",
                refs=(
                    Ref("bare store-then-ACK", getattr(bare, q)),
                    Ref("python-hl7 + SQLite", getattr(phl7, q), "peer"),
                    Ref("hl7apy parse+ACK", getattr(apy, q), "peer"),
                ),
                aim=P99_AIM if name == "p99" else None,
            )


def _e2e(
    run: Hl7Run,
    hub_dir: Path,
    conns: int,
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
    worker_processes: int = 0,
    worker_concurrency: int = 1,
) -> tuple[float, Drive, dict[str, int], tuple[int, str]]:
    """Messages/s from the first send to nothing waiting, the ingest drive, the final counts
    and the order violations read back from the store."""
    msgs = generate(run.e2e_n, seed=23, charges=CHARGES)
    with hub_serve(
        hub_dir,
        database_url=database_url,
        broker_url=broker_url,
        worker_processes=worker_processes,
        worker_concurrency=worker_concurrency,
    ) as hub:
        t0 = time.perf_counter()
        got = drive(hub.mllp_port, msgs, conns)
        counts = hub.wait_processed(poll=0.02)
        elapsed = time.perf_counter() - t0
        with hub.engine.connect() as conn:
            applied = read_applied(conn)
    # a message is in the lane of each patient reference it carries (PID-3 repetitions)
    refs, applied_msgs = len({a.patient for a in applied}), len({a.message_id for a in applied})
    checked = f"checked over {applied_msgs} applied messages in {refs} patient lanes"
    return len(msgs) / elapsed, got, counts, (order_violations(applied), checked)


def e2e_rows(run: Hl7Run, conns: int = 4) -> Iterator[Row]:
    rate, got, counts, violations = _e2e(run, run.tmp / f"e2e-{uuid.uuid4().hex[:6]}", conns)
    run.e2e_rate = rate
    note = (
        f"{run.e2e_n} ADT/SIU/DFT over {conns} conn, SQLite, in-process workers (defaults); "
        f"ingest alone {got.rate:,.0f} msgs/s; {_counts_note(counts)}"
    )
    bare = run.bare_loop(conns)
    yield Row(
        "e2e",
        "end to end into the PM, embedded",
        rate,
        "msgs/s",
        refs=(Ref(f"bare store-then-ACK, {conns} conn", bare.rate),),
        aim=E2E_AIM,
        note=note,
    )
    yield Row(
        "e2e", "order violations, embedded", violations[0], "msgs",
        better="lower", note=violations[1],
    )  # fmt: skip


def distributed_rows(run: Hl7Run, conns: int = 4) -> Iterator[Row]:
    with temporary_database(run.pg_admin) as url:
        rate, got, counts, violations = _e2e(
            run,
            run.tmp / f"dist-{uuid.uuid4().hex[:6]}",
            conns,
            database_url=url,
            broker_url=run.broker,
            worker_processes=run.dist_processes,
            worker_concurrency=run.dist_concurrency,
        )
    workers = f"{run.dist_processes} x hub worker --concurrency={run.dist_concurrency}"
    refs = [Ref(f"bare store-then-ACK, {conns} conn", run.bare_loop(conns).rate)]
    if run.e2e_rate is not None:
        refs.append(Ref("embedded end to end, same run", run.e2e_rate, "peer"))
    yield Row(
        "distributed",
        "end to end, PostgreSQL + Redis + workers",
        rate,
        "msgs/s",
        refs=tuple(refs),
        aim=DIST_AIM,
        note=f"{run.e2e_n} ADT/SIU/DFT over {conns} conn, {workers}; ingest alone "
        f"{got.rate:,.0f} msgs/s; {_counts_note(counts)}",
    )
    yield Row(
        "distributed", "order violations, distributed", violations[0], "msgs",
        better="lower", aim=ORDER_AIM, note=violations[1],
    )  # fmt: skip


def _parse_and_map_seconds(msgs: list[bytes]) -> float:
    """The ceiling of applying a backlog: parse and map every message, no store at all."""
    from hub.adapters.hl7v2.tokenizer import parse
    from hub.mappings.hl7v2_pm import map_message

    now = datetime(2026, 12, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    for raw in msgs:
        map_message(parse(raw), now=now)
    return time.perf_counter() - t0


def backlog_rows(run: Hl7Run) -> Iterator[Row]:
    from hub.config import Settings

    workers = Settings().workers  # the embedded default
    r = backlog_figures(run.backlog_n, run.tmp, workers, charges=CHARGES)
    ceiling = _parse_and_map_seconds(generate(run.backlog_n, seed=31, charges=CHARGES))
    yield Row(
        "backlog",
        f"stored backlog into the PM ({run.backlog_n:,})",
        run.backlog_n / r["seconds"],
        "msgs/s",
        refs=(Ref("parse + map alone, no store", run.backlog_n / ceiling),),
        aim=BACKLOG_AIM,
        note=f"SQLite, {workers} in-process workers, batches of {r['batch']}; "
        f"{r['processed']} processed, {r['not_processed']} not; storing them first, one "
        f"caller: {run.backlog_n / r['store_seconds']:,.0f} msgs/s",
    )
