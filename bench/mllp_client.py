"""The one MLLP client every ingest figure is measured with (hub, bare loop and peers alike).

``connections`` client processes (forked, so the client's own parsing of ACKs does not share an
interpreter with the server under test or with each other), each sending its share of the corpus
one message at a time and waiting for the ACK before the next, as an EHR interface does. The
corpus is split by patient (PID-3), so each patient's messages go over one connection in
order, as one feed keeps them. ``reconnect`` opens a connection per message, for servers that
close the connection after each answer (hl7apy's ``MLLPServer`` does).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import socket
import statistics
import time
import zlib
from dataclasses import dataclass

SB, EB = b"\x0b", b"\x1c\x0d"


@dataclass(frozen=True)
class Drive:
    messages: int
    seconds: float
    latencies: list[float]  # seconds, sorted
    rejected: int  # answers that were not AA/CA

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q * len(sorted_values))))
    return sorted_values[rank - 1]


def patient_of(raw: bytes) -> bytes:
    """PID-3's first component (the MRN), or b"" when the message has no PID."""
    at = raw.find(b"\rPID|")
    if at < 0:
        return b""
    fields = raw[at + 1 : raw.find(b"\r", at + 1)].split(b"|")
    return fields[3].split(b"^", 1)[0] if len(fields) > 3 else b""


def split_by_patient(msgs: list[bytes], connections: int) -> list[list[bytes]]:
    shares: list[list[bytes]] = [[] for _ in range(connections)]
    for raw in msgs:
        shares[zlib.crc32(patient_of(raw)) % connections].append(raw)
    return shares


def _read_answer(s: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(EB):
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the ACK")
        buf += chunk
    return buf


def _accepted(answer: bytes) -> bool:
    at = answer.find(b"MSA|")
    return at >= 0 and answer[at + 4 : at + 6] in (b"AA", b"CA")


def _client(port: int, msgs: list[bytes], reconnect: bool, out: mp.Queue) -> None:  # type: ignore[type-arg]
    lat: list[float] = []
    rejected = 0
    s: socket.socket | None = None
    try:
        for raw in msgs:
            t0 = time.perf_counter()
            if s is None:
                s = socket.create_connection(("127.0.0.1", port))
            s.sendall(SB + raw + EB)
            answer = _read_answer(s)
            lat.append(time.perf_counter() - t0)
            rejected += not _accepted(answer)
            if reconnect:
                s.close()
                s = None
    finally:
        if s is not None:
            s.close()
        out.put((lat, rejected))


def drive(port: int, msgs: list[bytes], connections: int, *, reconnect: bool = False) -> Drive:
    """Send ``msgs`` over ``connections`` connections; wall time from the first send to the
    last ACK, and every message's send-to-ACK latency."""
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    shares = [s for s in split_by_patient(msgs, connections) if s]
    procs = [ctx.Process(target=_client, args=(port, s, reconnect, q)) for s in shares]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    lat: list[float] = []
    rejected = 0
    for _ in procs:
        got, bad = q.get(timeout=3600)
        lat.extend(got)
        rejected += bad
    seconds = time.perf_counter() - t0
    for p in procs:
        p.join()
    if len(lat) != len(msgs):
        raise RuntimeError(f"{len(msgs) - len(lat)} message(s) got no ACK")
    lat.sort()
    return Drive(len(msgs), seconds, lat, rejected)
