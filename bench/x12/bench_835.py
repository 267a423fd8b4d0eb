"""835 benchmark: a seeded, balanced 835 of 30,000 claims, read, balanced and posted, beside
pyx12's validation of the same file in the same run. Figures are printed, never asserted.

    .venv/bin/python -m bench.x12.bench_835 [--claims 30000] [--seed 835] [--pipeline]

Each phase runs in a child process of its own so its peak memory (``ru_maxrss``) is its own:

* ``read+balance``: the envelope walker, the 835 reader and the three balancing checks,
  streaming (what the splitter does before any claim is stored);
* ``read+balance+post``: the same, then every claim mapped and posted (``PostClaimPayment``) to a
  fresh SQLite database seeded (in a process of its own, not timed) with the 30,000 submitted
  claims it pays, 200 claims per transaction, as the split stores items;
* ``pipeline`` (``--pipeline``): the file through the X12 receiver, split into 30,000 work items
  and processed by the queue (store, lanes, attempts, audit) as the embedded workers do it,
  ``HUB_WORKER_BATCH`` lane heads a transaction: the production path;
* ``pyx12``: ``pyx12.x12n_document`` validating the same file.

Aims (issue 8): read, balance and post in 3 s or less and 150 MB or less.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

CENT = Decimal("0.01")
POST_BATCH = 200


# --- the file ----------------------------------------------------------------------------------


def _claim(rng: random.Random, n: int) -> tuple[list[str], Decimal]:
    pcn = f"B{n:07d}"
    lines, charge_total, paid_total = [], Decimal(0), Decimal(0)
    denied = rng.random() < 0.1
    for ln in range(1, rng.randint(1, 3) + 1):
        charge = Decimal(rng.randint(5000, 40000)) * CENT
        co = Decimal(0) if denied else (charge * Decimal(rng.randint(5, 40)) / 100).quantize(CENT)
        pr = Decimal(0) if denied else Decimal(rng.randint(0, 3000)) * CENT
        pr = min(pr, charge - co)
        paid = Decimal(0) if denied else charge - co - pr
        seg = [f"SVC*HC:{rng.choice(('99213', '99214', '93000', '80053'))}*{charge}*{paid}**1",
               "DTM*472*20261120"]  # fmt: skip
        if denied:
            seg.append(f"CAS*CO*50*{charge}")
            seg.append(f"REF*6R*{pcn}-{ln}")
            seg.append("LQ*HE*N130")
        else:
            seg.append(f"CAS*CO*45*{co}" + (f"**2*{pr}" if False else ""))
            if pr:
                seg.append(f"CAS*PR*2*{pr}")
            seg.append(f"REF*6R*{pcn}-{ln}")
            seg.append(f"AMT*B6*{charge - co}")
        lines += seg
        charge_total += charge
        paid_total += paid
    status = "4" if denied else "1"
    pr_total = "" if denied else str(charge_total - paid_total)
    head = [
        f"CLP*{pcn}*{status}*{charge_total}*{paid_total}*{pr_total}*12*PY{n:09d}*11*1",
        f"NM1*QC*1*SYNTH*PATIENT{n % 97}****MI*M{n:08d}",
        "DTM*232*20261120",
    ]
    return head + lines, paid_total


def generate(path: Path, claims: int, seed: int) -> Decimal:
    """Write a balanced 835 of ``claims`` claims to ``path``; returns its BPR02."""
    rng = random.Random(seed)
    body_path = path.with_suffix(".body")
    total, count = Decimal(0), 0
    with body_path.open("w") as body:
        for n in range(1, claims + 1):
            if n % 1000 == 1:
                body.write(f"LX*{n // 1000 + 1}~\n")
                count += 1
            segs, paid = _claim(rng, n)
            total += paid
            count += len(segs)
            body.write("~\n".join(segs) + "~\n")
        body.write("PLB*1234567893*20261231*WO:ADJ1*12.34~\n")
        count += 1
    total -= Decimal("12.34")
    isa = ("ISA*00*          *00*          *ZZ*SYNTHPAYER     *ZZ*HUBPRACTICE    *261201*1200*^*"
           "00501*000000835*0*P*:~\n")  # fmt: skip
    header = [
        "GS*HP*SYNTHPAYER*HUBPRACTICE*20261201*1200*835*X*005010X221A1",
        "ST*835*0001",
        f"BPR*I*{total}*C*ACH*CCP*01*999999992*DA*123456*1512345678**01*999988880*DA*98765*"
        "20261201",
        "TRN*1*BENCH835*1512345678",
        "DTM*405*20261201",
        "N1*PR*SYNTHETIC MUTUAL",
        "N3*1 MAIN STREET",
        "N4*SPRINGFIELD*IL*62701",
        "REF*2U*PAYER77",
        "PER*BL*EDI SUPPORT*TE*8005550100",
        "N1*PE*SYNTH CLINIC*XX*1234567893",
        "REF*TJ*123456789",
    ]
    with path.open("w") as out:
        out.write(isa + "~\n".join(header) + "~\n")
        with body_path.open() as body:
            for chunk in iter(lambda: body.read(1 << 20), ""):
                out.write(chunk)
        out.write(f"SE*{count + len(header)}*0001~\nGE*1*835~\nIEA*1*000000835~\n")
    body_path.unlink()
    return total


# --- phases (each in its own process) ----------------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _parts(path: Path) -> Iterator[Any]:
    from hub.adapters.x12.envelope import TransactionSet, walk
    from hub.adapters.x12.readers.remittance import read_835
    from hub.adapters.x12.readers.walk import segments_of

    with path.open("rb") as f:
        for item in walk(f):
            if isinstance(item, TransactionSet):
                yield from read_835(segments_of(item))


def phase_read(path: Path) -> dict[str, Any]:
    from hub.adapters.x12.readers.balancing import check_835

    base = _rss_mb()
    start = time.perf_counter()
    report = check_835(_parts(path))
    seconds = time.perf_counter() - start
    assert report.balanced, report.describe()
    return {"seconds": seconds, "claims": report.claims, "rss_mb": _rss_mb(), "base_mb": base}


def _seed(conn: Any, numbers: range, now: datetime) -> None:
    """The submitted claims the 835 pays (bulk rows; not timed)."""
    import sqlalchemy as sa

    from hub.store.pm_tables import claim_lines, patients
    from hub.store.pm_tables import claims as claims_t

    stamp = {"created_at": now, "updated_at": now}
    conn.execute(sa.insert(patients), [{"facility": "B", "mrn": f"M{n}", **stamp}
                                       for n in numbers])  # fmt: skip
    conn.execute(
        sa.insert(claims_t),
        [
            {"patient_control_number": f"B{n:07d}", "patient_id": n, "status": "submitted",
             "total_charge": 0, **stamp}
            for n in numbers
        ],
    )  # fmt: skip
    conn.execute(
        sa.insert(claim_lines),
        [
            {"claim_id": n, "line_number": ln, "service_date": date(2026, 11, 20),
             "code": "99213", "units": 1, "amount": 0,
             "line_item_control_number": f"B{n:07d}-{ln}"}
            for n in numbers
            for ln in (1, 2, 3)
        ],
    )  # fmt: skip


def phase_seed(claims: int, data_dir: Path) -> dict[str, Any]:
    """A fresh database holding the submitted claims the 835 pays (its own process, so the
    posting phase's peak memory is the posting's)."""
    from hub.bootstrap import bootstrap
    from hub.config import Settings

    hub = bootstrap(Settings(data_dir=data_dir), plugins=[])
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for start in range(0, claims, 5000):
        with hub.uow() as uow:
            _seed(uow.conn, range(start + 1, min(start + 5000, claims) + 1), now)
            uow.commit()
    hub.stop()
    return {"claims": claims}


def phase_post(path: Path, claims: int, tmp: Path) -> dict[str, Any]:
    from hub.adapters.x12.readers.balancing import BalanceReport
    from hub.adapters.x12.readers.remittance import ClaimRemit, RemitHeader
    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.mappings import x12_remittance
    from hub.pm.billing_changes import PostClaimPayment
    from hub.store.pm_repo import SqlPm, Stamp

    now = datetime(2026, 12, 1, tzinfo=UTC)
    del claims  # seeded by phase_seed
    hub = bootstrap(Settings(data_dir=tmp / "var"), plugins=[])
    base = _rss_mb()
    start = time.perf_counter()
    report = BalanceReport()
    header: RemitHeader | None = None
    pending: list[ClaimRemit] = []
    posted = 0

    def post(batch: list[ClaimRemit]) -> None:
        assert header is not None
        remittance = x12_remittance.remittance(header)
        with hub.uow() as uow:
            pm = SqlPm(uow.conn, Stamp(None, now, "bench"))
            pm.apply_all(
                PostClaimPayment(remittance, x12_remittance.claim_payment(c), c.sequence, "bench")
                for c in batch
            )
            uow.commit()

    # the splitter's order: balance the whole file first, then post claim by claim
    for part in _parts(path):
        report.add(part)
    report.finish()
    assert report.balanced, report.describe()
    for part in _parts(path):
        if isinstance(part, RemitHeader):
            header = part
        elif isinstance(part, ClaimRemit):
            pending.append(part)
            if len(pending) >= POST_BATCH:
                post(pending)
                posted += len(pending)
                pending = []
    post(pending)
    posted += len(pending)
    seconds = time.perf_counter() - start
    hub.stop()
    return {"seconds": seconds, "claims": posted, "rss_mb": _rss_mb(), "base_mb": base}


def phase_pipeline(path: Path, claims: int, tmp: Path) -> dict[str, Any]:
    from typing import cast

    from hub.bootstrap import bootstrap
    from hub.config import Settings
    from hub.protocols.x12.receiver import X12Receiver
    from hub.queue.dispatch import NullDispatcher

    del claims  # seeded by phase_seed
    hub = bootstrap(Settings(data_dir=tmp / "pipe"), dispatcher=NullDispatcher())
    base = _rss_mb()
    start = time.perf_counter()
    receiver = cast(X12Receiver, hub.receiver("x12"))
    receiver.submit(path.read_bytes())
    processed = 0
    # as the embedded workers drain a backlog: up to HUB_WORKER_BATCH lane heads a transaction
    # (claim items: one batch processor call each, ADR 0027)
    while outcomes := hub.pipeline.run_batch("bench", limit=hub.settings.worker_batch):
        processed += len(outcomes)
    seconds = time.perf_counter() - start
    hub.stop()
    return {"seconds": seconds, "claims": processed - 1, "rss_mb": _rss_mb(), "base_mb": base}


def phase_pyx12(path: Path) -> dict[str, Any]:
    import io

    import pyx12.params
    import pyx12.x12n_document

    base = _rss_mb()
    start = time.perf_counter()
    ack = io.StringIO()
    with path.open() as src:
        valid = pyx12.x12n_document.x12n_document(pyx12.params.params(), src, ack, None)
    seconds = time.perf_counter() - start
    errors = sum(1 for s in ack.getvalue().split("~") if s.strip().startswith(("IK3", "IK4")))
    return {"seconds": seconds, "valid": bool(valid), "ik3_ik4": errors, "rss_mb": _rss_mb(),
            "base_mb": base}  # fmt: skip


# --- driver ------------------------------------------------------------------------------------


def _child(phase: str, path: Path, claims: int, tmp: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.x12.bench_835", "--phase", phase, "--file", str(path),
           "--claims", str(claims), "--tmp", str(tmp)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(claims: int, seed: int = 835, *, pipeline: bool = False) -> dict[str, Any]:
    """Generate the file and run every phase, each in its own process; the results by phase
    (``{"error": ...}`` for a phase that failed) plus the file's facts under ``"file"``."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path = tmp / "bench.835"
        total = generate(path, claims, seed)
        out: dict[str, Any] = {
            "file": {"claims": claims, "mb": path.stat().st_size / 1e6, "bpr02": str(total)}
        }
        _child("seed", path, claims, tmp)
        if pipeline:
            _child("seed-pipe", path, claims, tmp)
        for phase in ["read", "post", *(["pipeline"] if pipeline else []), "pyx12"]:
            out[phase] = _child(phase, path, claims, tmp)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--claims", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=835)
    ap.add_argument("--pipeline", action="store_true", help="also time the full queue path")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        path, tmp = Path(args.file), Path(args.tmp)
        runs = {
            "seed": lambda: phase_seed(args.claims, tmp / "var"),
            "seed-pipe": lambda: phase_seed(args.claims, tmp / "pipe"),
            "read": lambda: phase_read(path),
            "post": lambda: phase_post(path, args.claims, tmp),
            "pipeline": lambda: phase_pipeline(path, args.claims, tmp),
            "pyx12": lambda: phase_pyx12(path),
        }
        print(json.dumps(runs[args.phase]()))
        return
    results = measure(args.claims, args.seed, pipeline=args.pipeline)
    facts = results.pop("file")
    print(f"835: {args.claims} claims, {facts['mb']:.1f} MB, BPR02 {facts['bpr02']} "
          f"(seed {args.seed})")  # fmt: skip
    names = {"read": "read+balance", "post": "read+balance+post", "pipeline": "pipeline",
             "pyx12": "pyx12 validation"}  # fmt: skip
    print(f"{'phase':<20} {'seconds':>8} {'peak RSS MB':>12} {'(at start)':>11}  note")
    for phase, r in results.items():
        if "error" in r:
            print(f"{names[phase]:<20} failed: {r['error']}")
            continue
        note = ""
        if phase == "pyx12":
            note = f"valid={r['valid']} IK3/IK4 found={r['ik3_ik4']}"
        elif "claims" in r:
            note = f"{r['claims']} claims"
        print(f"{names[phase]:<20} {r['seconds']:>8.2f} {r['rss_mb']:>12.1f} "
              f"{r['base_mb']:>11.1f}  {note}")  # fmt: skip
    print("aims: read+balance+post <= 3 s and <= 150 MB (printed, not asserted)")


if __name__ == "__main__":
    main()
