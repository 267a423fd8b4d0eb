"""``make soak``: HL7 v2 (MLLP), FHIR (``POST /fhir``) and X12 (``POST /x12``) together at a
steady rate against one ``hub serve`` subprocess, for a bounded time (issue 9 item 6). Run by
hand; loopback only; it stops by itself:

    SOAK_MINUTES=2 .venv/bin/python -m bench.soak          # default 30 minutes
    .venv/bin/python -m bench.soak --rate 200 --minutes 10

The rate (messages a second, all three together: 80 % HL7, 10 % FHIR transactions of a Patient
and an Encounter, 10 % two-claim 835 files) defaults to a quarter of the embedded end-to-end HL7
figure (else of the 4-connection ingest figure) of the latest ``make bench`` JSON: the mix's
FHIR transactions and 835 files cost more than an HL7 message, and at half that figure the
queue grew by about 650 a minute (2026-12-03), so a quarter is about half what the hub sustains
for this mix. The end of the run says whether the queue kept up.
Each minute it prints the resident memory of the hub's processes (``hub serve`` and the worker
processes it supervises: their sum, then each), their open files (``/proc/PID/fd``),
the queue depth and the age of the oldest waiting message (the hub's own ``/metrics``), and
what was sent; at the end the growth of memory from the first minute to the last (aim: flat
within 10 %) and of open files. Synthetic data only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.hl7v2.corpus import generate
from bench.hubproc import HubServe, hub_serve, open_files, process_tree, rss_kb
from bench.mllp_client import EB, SB, _read_answer

SHARES = {"hl7v2": 0.8, "fhir": 0.1, "x12": 0.1}
FALLBACK_RATE = 50.0
MEMORY_AIM = 0.10


def rate_from_bench(path: Path) -> float | None:
    """A quarter of the embedded end-to-end HL7 rate of a bench JSON (else of 4-connection
    ingest): about half what the hub sustains for the soak's costlier mix."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    by_label = {r["label"]: r["value"] for r in doc.get("rows", []) if r.get("value")}
    for label in ("end to end into the PM, embedded", "MLLP ingest, 4 conn, processing on"):
        if label in by_label:
            return float(by_label[label]) / 4
    return None


def fhir_body(i: int) -> bytes:
    pid = f"urn:uuid:00000000-0000-4000-9000-{i:012d}"
    entries = [
        {
            "fullUrl": pid,
            "request": {"method": "POST", "url": "Patient"},
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:hub:mrn:SOAK", "value": f"S{i:08d}"}],
                "name": [{"family": "Soakperson", "given": ["Synth"]}],
                "birthDate": "1980-02-02",
            },
        },
        {
            "request": {"method": "POST", "url": "Encounter"},
            "resource": {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "identifier": [{"system": "urn:soak:visit", "value": f"SV{i:08d}"}],
                "subject": {"reference": pid},
            },
        },
    ]
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


def x12_body(i: int, tmp: Path) -> bytes:
    """A balanced two-claim 835 whose interchange, group and trace numbers are this send's."""
    from bench.x12.bench_835 import generate as generate_835

    path = tmp / f"soak-{i}.835"
    generate_835(path, 2, seed=i)
    raw = path.read_bytes()
    path.unlink()
    n = f"{i % 10**9:09d}"
    raw = raw.replace(b"*000000835*", f"*{n}*".encode()).replace(
        b"IEA*1*000000835", b"IEA*1*" + n.encode()
    )
    raw = raw.replace(b"*835*X*", f"*{i}*X*".encode()).replace(b"GE*1*835~", f"GE*1*{i}~".encode())
    return raw.replace(b"TRN*1*BENCH835*", f"TRN*1*SOAK{i}*".encode())


@dataclass
class Sender:
    """One protocol's paced loop: sends at ``rate`` until ``end``; counts what was answered."""

    name: str
    rate: float
    end: float
    send: Callable[[int], bool]
    sent: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)

    def run(self) -> None:
        if self.rate <= 0:
            return
        next_at = time.monotonic()
        i = 0
        while (now := time.monotonic()) < self.end:
            if now < next_at:
                time.sleep(min(next_at - now, self.end - now))
                continue
            i += 1
            try:
                ok = self.send(i)
            except (OSError, urllib.error.URLError) as exc:
                ok = False
                if len(self.errors) < 5:
                    self.errors.append(repr(exc)[:200])
            self.sent += 1
            self.refused += not ok
            next_at += 1 / self.rate


def with_control_id(raw: bytes, control_id: bytes) -> bytes:
    """``raw`` with MSH-10 replaced (MSH-1 is the separator, so MSH-10 is the tenth field)."""
    end = raw.index(b"\r")
    fields = raw[:end].split(b"|")
    fields[9] = control_id
    return b"|".join(fields) + raw[end:]


def _mllp_sender(hub: HubServe) -> Callable[[int], bool]:
    msgs = generate(20_000, patients=2_000, seed=97, charges=0.1)
    conn: list[socket.socket] = []

    def send(i: int) -> bool:
        if not conn:
            conn.append(socket.create_connection(("127.0.0.1", hub.mllp_port), timeout=30))
        # the corpus again and again, each send new by its MSH-10 (the same bytes again would
        # be answered from the store as a duplicate)
        raw = with_control_id(msgs[i % len(msgs)], f"S{i:010d}".encode())
        try:
            conn[0].sendall(SB + raw + EB)
            answer = _read_answer(conn[0])
        except OSError:
            conn.pop().close()
            raise
        return b"MSA|AA" in answer or b"MSA|CA" in answer

    return send


def _http_sender(
    hub: HubServe, path: str, ctype: str, body: Callable[[int], bytes]
) -> Callable[[int], bool]:
    def send(i: int) -> bool:
        req = urllib.request.Request(
            f"http://127.0.0.1:{hub.http_port}{path}",
            data=body(i),
            method="POST",
            headers={"Authorization": f"Bearer {hub.token}", "Content-Type": ctype},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return bool(200 <= r.status < 300)
        except urllib.error.HTTPError as exc:
            exc.close()
            return False

    return send


def queue_state(hub: HubServe) -> tuple[float, float]:
    """(depth, oldest age in seconds) from the hub's /metrics."""
    depth = age = float("nan")
    for line in hub.get("/metrics").decode().splitlines():
        if line.startswith("hub_queue_depth "):
            depth = float(line.split()[1])
        elif line.startswith("hub_queue_oldest_age_seconds "):
            age = float(line.split()[1])
    return depth, age


def _minute_line(minute: int, hub: HubServe, senders: list[Sender]) -> dict[str, Any]:
    depth, age = queue_state(hub)
    tree = process_tree(hub.pid)  # the listener and the worker processes it supervises
    each = [rss_kb(pid) / 1024 for pid in tree]
    row = {"minute": minute, "rss_mb": sum(each), "rss_each_mb": each,
           "open_files": sum(open_files(pid) for pid in tree),
           "queue_depth": depth, "queue_age_s": age,
           "sent": {s.name: s.sent for s in senders}}  # fmt: skip
    sent = " ".join(f"{s.name}={s.sent}({s.refused} refused)" for s in senders)
    parts = " + ".join(f"{m:.1f}" for m in each)
    print(f"  {minute:>3}  RSS {row['rss_mb']:8.1f} MB ({parts})  fds {row['open_files']:>4}  "
          f"queue {depth:>6.0f}  oldest {age:7.1f} s  sent {sent}", flush=True)  # fmt: skip
    return row


def soak(minutes: float, rate: float, tmp: Path) -> list[dict[str, Any]]:
    with hub_serve(tmp / "hub") as hub:
        end = time.monotonic() + minutes * 60
        senders = [
            Sender("hl7v2", rate * SHARES["hl7v2"], end, _mllp_sender(hub)),
            Sender("fhir", rate * SHARES["fhir"], end,
                   _http_sender(hub, "/fhir", "application/fhir+json", fhir_body)),
            Sender("x12", rate * SHARES["x12"], end,
                   _http_sender(hub, "/x12", "application/edi-x12", lambda i: x12_body(i, tmp))),
        ]  # fmt: skip
        threads = [threading.Thread(target=s.run, daemon=True) for s in senders]
        for t in threads:
            t.start()
        print(f"  min  (hub serve pid {hub.pid}; {rate:.1f} msgs/s for {minutes:g} min)")
        rows = []
        for minute in range(1, int(minutes) + 1):
            time.sleep(max(0.0, end - (minutes - minute) * 60 - time.monotonic()))
            rows.append(_minute_line(minute, hub, senders))
        for t in threads:
            t.join(120)
        for s in senders:
            for e in s.errors:
                print(f"  {s.name} error: {e}")
        wanted = sum(s.rate for s in senders) * minutes * 60
        sent = sum(s.sent for s in senders)
        print(f"  sent {sent} of {wanted:.0f} scheduled; stored inbound units by status: "
              + ", ".join(f"{n} {st}" for st, n in sorted(hub.counts().items())))  # fmt: skip
    return rows


def growth(rows: list[dict[str, Any]]) -> tuple[float, int]:
    """Memory growth from the first minute to the last (a fraction) and open-file growth."""
    first, last = rows[0], rows[-1]
    return (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"], last["open_files"] - first[
        "open_files"
    ]


def queue_verdict(rows: list[dict[str, Any]]) -> str:
    """Whether the hub kept up: a queue that grew through the last half of the run means the
    rate was above what the hub sustains for this mix, and memory then grows with the queue."""
    half = rows[len(rows) // 2 :]
    depths = [float(r["queue_depth"]) for r in half]
    if len(depths) >= 2 and depths[-1] > depths[0] + 100 and depths == sorted(depths):
        return (
            f"queue grew from {depths[0]:.0f} to {depths[-1]:.0f} over the last half: the rate "
            "is above what the hub sustains for this mix; rerun with a lower SOAK_RATE"
        )
    return f"queue kept up (last half: {min(depths):.0f} to {max(depths):.0f} waiting)"


def _stop_on_sigterm() -> None:
    """``kill`` (or make's own interrupt) ends the run through its ``finally``: the hub
    subprocess is stopped, never left serving."""

    def raise_exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, raise_exit)


def main() -> None:
    _stop_on_sigterm()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "30")))
    ap.add_argument("--rate", type=float, default=None, help="msgs/s, all protocols together")
    ap.add_argument("--bench-json", type=Path, default=Path("bench/results/latest.json"))
    args = ap.parse_args()
    rate = args.rate or rate_from_bench(args.bench_json)
    origin = "--rate" if args.rate else f"a quarter of the HL7 figure in {args.bench_json}"
    if rate is None:
        rate, origin = FALLBACK_RATE, f"no bench JSON at {args.bench_json}: a fixed fallback"
    print(f"# make soak: {args.minutes:g} min at {rate:.1f} msgs/s ({origin})")
    with tempfile.TemporaryDirectory(prefix="hub-soak-") as tmp:
        rows = soak(max(1.0, args.minutes), rate, Path(tmp))
    mem, fds = growth(rows)
    verdict = "met" if abs(mem) <= MEMORY_AIM else "missed"
    first, last = rows[0], rows[-1]
    print(f"memory: {first['rss_mb']:.1f} MB (minute 1) -> {last['rss_mb']:.1f} MB (minute "
          f"{last['minute']}): {mem:+.1%}  (aim: flat within 10 %: {verdict})")  # fmt: skip
    print(f"open files: {rows[0]['open_files']} -> {rows[-1]['open_files']} ({fds:+d})")
    print(queue_verdict(rows))


if __name__ == "__main__":
    main()
