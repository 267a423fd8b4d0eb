"""SIGTERM to ``hub serve`` while python-hl7 MLLP clients send without pause (issue 9, item 5).

What must hold (README "When things go wrong"): the process exits 0 within a bound; every message a
sender got AA for is in the store; no message is half-applied (its patient exists iff its
status is ``processed``: the rest are still queued and processable); and after a restart the
queue drains until the PM holds exactly one patient per stored message, every AA'd one included.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ehr_senders import port_open
from support.hl7_streams import Stream, registered, stored
from support.serve_process import Serve
from support.waiting import wait_until

from hub.config import Settings
from hub.store.db import create_engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENDERS = 6
STOP_BOUND = 60.0  # seconds: a hang fails the test; nothing asserts how fast it was


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path / "var", tmp_path)
    yield s
    s.stop_all()


async def _send_then_sigterm(proc: subprocess.Popen[bytes], streams: list[Stream]) -> int | None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in streams]
    loop = asyncio.get_running_loop()
    # wait for a good share of traffic, on every connection, before the signal
    deadline = loop.time() + 120
    while min(len(s.acks) for s in streams) < 15:
        assert loop.time() < deadline, "the streams did not get going"
        assert all(not t.done() for t in tasks), "a stream ended before the signal"
        await asyncio.sleep(0.05)
    # a connection that sends nothing must not hold the stop up (the idle timeout is 10 min)
    idle_reader, idle = await asyncio.open_connection("127.0.0.1", streams[0].port)
    proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(proc.wait, STOP_BOUND)
    except subprocess.TimeoutExpired:
        code = None
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert await asyncio.wait_for(idle_reader.read(), 30) == b""  # closed by the hub
    idle.close()
    return code


def test_sigterm_under_continuous_mllp_ingest_loses_and_half_applies_nothing(
    serve: Serve,
) -> None:
    serve.start()
    port = serve.mllp_port
    wait_until(lambda: port_open(port), timeout=60, what="the MLLP listener")
    streams = [Stream(port, f"T{n}X") for n in range(SENDERS)]
    code = asyncio.run(_send_then_sigterm(serve.procs[0], streams))
    engine = create_engine(Settings(data_dir=serve.data_dir).effective_database_url)
    try:
        assert code == 0, serve.logs()
        acked = {c: a for s in streams for c, a in s.acks.items()}
        assert set(acked.values()) == {"AA"}
        # the signal landed mid-stream: connections ended with a message sent and unanswered
        assert sum(len(s.unanswered) for s in streams) > 0

        rows = stored(engine)
        assert set(acked) <= set(rows), "an AA'd message is not in the store"
        pm = registered(engine)
        half = {c: status for c, status in rows.items() if (status == "processed") != (c in pm)}
        assert half == {}, "applied without its status, or processed without its patient"
        assert set(rows.values()) <= {"received", "processing", "retrying", "processed"}

        serve.start(mllp_port=port)  # the restarted hub drains what was queued
        wait_until(
            lambda: set(stored(engine).values()) == {"processed"}, timeout=240, what="drained"
        )
        rows = stored(engine)
        pm = registered(engine)
        assert pm & set(rows) == set(rows)  # one patient per stored message
        assert len([m for m in pm if m.startswith("T")]) == len(rows)
        assert set(acked) <= pm
    except AssertionError:
        print(serve.logs())
        raise
    finally:
        engine.dispose()
