"""1,000 MLLP connections at once against ``hub serve`` (issue 9, item 5; ADR 0015 bounds).

Each python-hl7 client connects, sends one registration and waits for its ACK. Every client
must end one of three ways, none hanging: AA (and then its message is in the store), closed by
the hub without an answer (refused), or its connect refused. The listener survives, and after
the storm a plain client gets AA.

- ``bounded``: the hub's own limit (``HUB_MLLP_MAX_CONNECTIONS``, 256) is below the storm, so
  connections past it are closed as soon as they are accepted.
- ``fd_limit_at_start``: the limit is set above the storm but the hub starts under a
  descriptor limit below it (``prlimit``): ``hub serve`` lowers its bound to fit, with a
  warning, so connections past it are refused on accept as in ``bounded`` and those held leave
  descriptors for the database. (A burst can still meet EMFILE for a moment: asyncio accepts up
  to the listen backlog per loop pass before the admission check closes the extras.)
- ``emfile``: the limit is set above the storm and the hub's descriptor limit is lowered on
  the running process (``resource.prlimit``), past the point where it sized its bound, so
  ``accept()`` itself fails with EMFILE; the hub must keep running and serve the backlog as
  descriptors free (asyncio retries the accept).
"""

from __future__ import annotations

import asyncio
import resource
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import hl7.client
import pytest
from hl7.mllp import open_hl7_connection
from support.ehr_senders import port_open
from support.hl7_streams import ack_code, registration, stored
from support.serve_process import Serve
from support.waiting import wait_until

from hub.config import Settings
from hub.store.db import create_engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STORM = 1000
HUB_FD_LIMIT = 400  # well below the storm, above what the hub needs idle
BOUND = 90.0  # seconds a client may wait for anything: a hang fails, nothing asserts speed


@pytest.fixture(autouse=True)
def enough_descriptors() -> Iterator[None]:
    """The test process holds a socket per client: raise its soft limit if it is low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = STORM + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.fail(f"RLIMIT_NOFILE hard limit {hard} is below {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def _client(port: int, control: str) -> str:
    try:
        async with asyncio.timeout(BOUND):
            reader, writer = await open_hl7_connection("127.0.0.1", port)
    except (OSError, TimeoutError):
        return "connect refused"
    try:
        writer.writemessage(registration(control))
        async with asyncio.timeout(BOUND):
            await writer.drain()
            reply = await reader.readmessage()
        return ack_code(reply)
    except (OSError, asyncio.IncompleteReadError):
        return "closed"
    except TimeoutError:
        return "hung"
    finally:
        writer.close()


async def _storm(port: int) -> dict[str, str]:
    controls = [f"S{n:04d}" for n in range(STORM)]
    results = await asyncio.gather(*(_client(port, c) for c in controls))
    return dict(zip(controls, results, strict=True))


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found.extend(_family(int(child)))
    return found


def _plain_client_aa(port: int, control: str) -> bool:
    try:
        with hl7.client.MLLPClient("127.0.0.1", port) as client:
            client.socket.settimeout(30)
            reply = client.send_message(str(registration(control)))
    except OSError:
        return False
    return bool(reply) and ack_code(hl7.parse(reply.decode().strip("\x0b\x1c\r"))) == "AA"


@pytest.mark.parametrize("case", ["bounded", "fd_limit_at_start", "emfile"])
def test_a_thousand_connections_are_served_or_refused_cleanly(tmp_path: Path, case: str) -> None:
    env = {"HUB_MLLP_MAX_CONNECTIONS_PER_PEER": str(2 * STORM)}  # all come from 127.0.0.1
    prefix: list[str] = []
    if case != "bounded":
        env["HUB_MLLP_MAX_CONNECTIONS"] = str(2 * STORM)
    if case == "fd_limit_at_start":
        prefix = ["prlimit", f"--nofile={HUB_FD_LIMIT}:{HUB_FD_LIMIT}"]
    serve = Serve(tmp_path / "var", tmp_path, env, prefix)
    try:
        proc = serve.start()
        port = serve.mllp_port
        wait_until(lambda: port_open(port), timeout=60, what="the MLLP listener")
        if case == "emfile":
            for pid in _family(proc.pid):  # the listener may be a child process of serve
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (HUB_FD_LIMIT, HUB_FD_LIMIT))
        outcomes = asyncio.run(_storm(port))
        counts = Counter(outcomes.values())
        assert proc.poll() is None, "the hub died in the storm"
        assert set(counts) <= {"AA", "closed", "connect refused"}, counts
        assert counts["AA"] > 0, counts
        logs = serve.logs()
        if case == "emfile":
            assert "out of system resource" in logs  # accept() did hit EMFILE
        else:
            assert counts["closed"] > 0, counts  # the storm went past the bound: refused
        if case == "fd_limit_at_start":
            assert "file descriptor limit too low" in logs

        # after the storm a plain client is served
        assert wait_until(
            lambda: _plain_client_aa(port, "AFTER1"), timeout=60, what="AA after the storm"
        )
        engine = create_engine(Settings(data_dir=serve.data_dir).effective_database_url)
        try:
            rows = stored(engine)
            acked = {c for c, o in outcomes.items() if o == "AA"}
            assert acked | {"AFTER1"} <= set(rows)
            # nothing is left stuck by the storm (a worker that met EMFILE retries)
            wait_until(
                lambda: set(stored(engine).values()) == {"processed"}, timeout=240, what="applied"
            )
        finally:
            engine.dispose()
        print(f"{case}: {dict(counts)}")
    except AssertionError:
        print(serve.logs()[-20000:])
        raise
    finally:
        serve.stop_all()
