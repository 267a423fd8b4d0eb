"""KPI report and encryption overhead figures (run by hand: ``python -m bench.kpis.run``).

1. Seeds a practice on SQLite (and PostgreSQL with ``--pg URL``) with bulk inserts, then times
   the whole KPI report for one month beside a floor: one ``count(*)`` over each table the
   report reads (a report cannot be cheaper than looking at its tables once).
2. Ingests the same HL7 ADT messages with and without ``HUB_ENCRYPTION_KEY`` (store + ACK
   path only, no processing) and prints messages per second for each.

Every value is synthetic. No figure is asserted; compare them with the floor printed beside.
"""

from __future__ import annotations

import argparse
import base64
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from hub.bootstrap import bootstrap
from hub.config import Settings
from hub.queue.dispatch import NullDispatcher
from hub.services.ingest import Inbound
from hub.services.kpis import KpiService
from hub.store import pm_tables as t
from hub.store.kpi_sql import Period

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _insert(conn: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 5000):
        conn.execute(sa.insert(table), rows[i : i + 5000])


def seed(settings: Settings, claims: int, rng: random.Random) -> None:
    hub = bootstrap(settings, plugins=[], dispatcher=NullDispatcher(), embedded_workers=False)
    stamp = {"created_at": T0, "updated_at": T0}
    patients = claims // 2
    with hub.engine.begin() as conn:
        _insert(
            conn, t.patients, [{"id": i, "mrn": f"B{i}", **stamp} for i in range(1, patients + 1)]
        )
        _insert(
            conn,
            t.providers,
            [
                {"id": i, "local_id": f"D{i}", "family_name": f"DOC{i}", **stamp}
                for i in range(1, 21)
            ],
        )
        _insert(
            conn, t.organizations, [{"id": 1, "kind": "payer", "name": "Synthetic Mutual", **stamp}]
        )
        enc, cl, sub, sc, rem, cp, adj, appt, elig = [], [], [], [], [], [], [], [], []
        for i in range(1, claims + 1):
            pid = rng.randrange(1, patients + 1)
            arrive = T0 + timedelta(days=rng.randrange(330), minutes=rng.randrange(480, 1000))
            enc.append(
                {"id": i, "patient_id": pid, "status": "finished", "admit_at": arrive, **stamp}
            )
            charge = Decimal(rng.randrange(5000, 40000)) / 100
            sent = arrive + timedelta(days=rng.randrange(1, 5))
            cl.append(
                {
                    "id": i,
                    "patient_control_number": f"PCN{i}",
                    "patient_id": pid,
                    "encounter_id": i,
                    "total_charge": charge,
                    "status": "submitted",
                    "submitted_at": sent,
                    **stamp,
                }
            )
            sub.append(
                {
                    "id": i,
                    "partner": "CLEARCO",
                    "interchange_control_number": f"{i:09d}",
                    "group_control_number": "1",
                    "transaction_control_number": "0001",
                    "submitted_at": sent,
                    "ack_result": rng.choice(["accepted"] * 9 + ["rejected"]),
                    **stamp,
                }
            )
            sc.append({"submission_id": i, "claim_id": i})
            appt.append(
                {
                    "id": i,
                    "patient_id": pid,
                    "provider_id": rng.randrange(1, 21),
                    "start": arrive + timedelta(minutes=rng.randrange(0, 40)),
                    "source_system": "EHR",
                    "filler_id": f"F{i}",
                    "status": rng.choice(["booked"] * 8 + ["noshow", "cancelled"]),
                    **stamp,
                }
            )
            elig.append(
                {
                    "id": i,
                    "patient_id": pid,
                    "status": rng.choice(["active"] * 9 + ["inactive"]),
                    "responded_at": arrive - timedelta(days=2),
                    **stamp,
                }
            )
            if rng.random() < 0.8:
                paid = (charge * Decimal("0.7")).quantize(Decimal("0.01"))
                rem.append(
                    {
                        "id": i,
                        "payer_org_id": 1,
                        "trace_number": f"TR{i}",
                        "total_paid": paid,
                        "payment_date": (sent + timedelta(days=rng.randrange(10, 60))).date(),
                        **stamp,
                    }
                )
                denied = rng.random() < 0.1
                cp.append(
                    {
                        "id": i,
                        "remittance_id": i,
                        "claim_id": i,
                        "patient_control_number": f"PCN{i}",
                        "status": "denied" if denied else "processed_primary",
                        "charge_amount": charge,
                        "paid_amount": Decimal(0) if denied else paid,
                    }
                )
                adj.append(
                    {
                        "id": i,
                        "claim_payment_id": i,
                        "adjustment_group": "contractual",
                        "reason_code": "50" if denied else "45",
                        "amount": charge if denied else charge - paid,
                    }
                )
        for table, rows in (
            (t.encounters, enc),
            (t.claims, cl),
            (t.submissions, sub),
            (t.submission_claims, sc),
            (t.appointments, appt),
            (t.eligibility_checks, elig),
            (t.remittances, rem),
            (t.claim_payments, cp),
            (t.adjustments, adj),
        ):
            _insert(conn, table, rows)
    hub.stop()


def time_report(settings: Settings) -> tuple[float, float]:
    hub = bootstrap(settings, plugins=[], dispatcher=NullDispatcher(), embedded_workers=False)
    service = KpiService(hub.engine)
    period = Period(date(2026, 6, 1), date(2026, 6, 30))
    service.report(period)  # warm
    start = time.perf_counter()
    for _ in range(3):
        service.report(period)
    report = (time.perf_counter() - start) / 3
    tables = [
        t.claims,
        t.submissions,
        t.submission_claims,
        t.claim_payments,
        t.remittances,
        t.adjustments,
        t.appointments,
        t.encounters,
        t.eligibility_checks,
    ]
    start = time.perf_counter()
    with hub.engine.connect() as conn:
        for table in tables:
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    floor = time.perf_counter() - start
    hub.stop()
    return report, floor


def _adt(n: int) -> bytes:
    return (
        f"MSH|^~\\&|BENCH|NORTHCLINIC|HUB|PRACTICE|20260105083000||ADT^A04^ADT_A01|B{n}|P|2.5.1\r"
        f"EVN|A04|20260105083000\rPID|1||M{n}^^^NORTHCLINIC^MR||Benchperson^Sam||19800214|F\r"
        "PV1|1|O\r"
    ).encode()


def ingest_rate(settings: Settings, count: int) -> float:
    hub = bootstrap(settings, plugins=[], dispatcher=NullDispatcher(), embedded_workers=False)
    start = time.perf_counter()
    for n in range(count):
        hub.ingest.ingest(
            Inbound(
                protocol="bench",
                raw=_adt(n),
                sender="BENCH",
                control_id=f"B{n}",
                lane_keys=(f"NORTHCLINIC/M{n}",),
                patient_refs=(f"M{n}",),
            ),
            answer=lambda _i, _o: b"MSA|AA",
        )
    rate = count / (time.perf_counter() - start)
    hub.stop()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--claims", type=int, default=20000)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--pg", default=None, help="a PostgreSQL URL (an empty database) to run on too")
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", Settings(data_dir=Path(tmp) / "kpi"))]
        if args.pg:
            targets.append(
                ("postgresql", Settings(data_dir=Path(tmp) / "pg", database_url=args.pg))
            )
        for name, settings in targets:
            seed(settings, args.claims, rng)
            report, floor = time_report(settings)
            print(
                f"KPI report, {name}, {args.claims} claims + as many appointments/encounters: "
                f"{report * 1000:.0f} ms (floor, one count(*) per table: {floor * 1000:.0f} ms)"
            )
        key = SecretStr(base64.b64encode(bytes(range(32))).decode())
        plain = ingest_rate(Settings(data_dir=Path(tmp) / "plain"), args.messages)
        sealed = ingest_rate(
            Settings(data_dir=Path(tmp) / "sealed", encryption_key=key), args.messages
        )
        print(
            f"ingest (store + ACK), SQLite, {args.messages} ADT: {plain:.0f} msg/s plain, "
            f"{sealed:.0f} msg/s with HUB_ENCRYPTION_KEY ({(1 - sealed / plain) * 100:.0f}% slower)"
        )


if __name__ == "__main__":
    main()
