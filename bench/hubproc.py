"""A real ``hub serve`` (and ``hub worker``) as subprocesses, as an operator runs them.

Settings go through the environment only (``HUB_*``), on free loopback ports and a data folder
of the run's own; the store is read from the bench process with plain SQL (a read snapshot, so
polling does not queue behind the writer).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.peers import free_port, wait_port

PENDING = ("received", "processing", "retrying")


def hub_bin() -> str:
    return str(Path(sys.executable).with_name("hub"))


def hub_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_DATA_DIR=str(data_dir), HUB_LOG_LEVEL="WARNING", **extra)
    return env


def create_key(env: dict[str, str], role: str = "admin") -> str:
    """A token made with ``hub keys create`` (printed alone on the last line)."""
    done = subprocess.run(
        [hub_bin(), "keys", "create", "--role", role, "--name", f"bench-{role}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@dataclass
class HubServe:
    proc: subprocess.Popen[bytes]
    mllp_port: int
    http_port: int
    database_url: str
    token: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _engine: Any = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def engine(self) -> Any:
        if self._engine is None:
            import sqlalchemy as sa

            self._engine = sa.create_engine(self.database_url)
        return self._engine

    def counts(self) -> dict[str, int]:
        """Inbound messages (and work items) per status."""
        import sqlalchemy as sa

        q = "SELECT status, count(*) FROM messages WHERE direction = 'in' GROUP BY status"
        with self.engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(sa.text(q))}

    def wait_processed(self, timeout: float = 3600, poll: float = 0.05) -> dict[str, int]:
        """Poll until nothing is waiting; returns the final counts per status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.counts()
            if not any(counts.get(s, 0) for s in PENDING):
                return counts
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub serve exited with {self.proc.returncode}")
            time.sleep(poll)
        raise RuntimeError(f"not processed after {timeout} s: {self.counts()}")

    def get(self, path: str) -> bytes:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return bytes(r.read())


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def hub_serve(
    data_dir: Path,
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
    worker_processes: int = 0,
    worker_concurrency: int = 2,
    **settings: str,
) -> Iterator[HubServe]:
    """``hub serve`` on free ports (embedded default unless a database or broker is given),
    plus ``worker_processes`` times ``hub worker --concurrency=N`` when a broker is given."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    mllp, http = free_port(), free_port()
    extra = {"HUB_MLLP_PORT": str(mllp), "HUB_HTTP_PORT": str(http), **settings}
    if database_url:
        extra["HUB_DATABASE_URL"] = database_url
    if broker_url:
        extra["HUB_BROKER_URL"] = broker_url
    env = hub_env(data_dir, **extra)
    token = create_key(env)  # also migrates the store before anything is timed
    url = database_url or f"sqlite:///{(data_dir / 'hub.db').resolve()}"
    out = (data_dir / "serve.log").open("ab")
    proc = subprocess.Popen(
        [hub_bin(), "serve"], env=env, stdout=out, stderr=out, start_new_session=True
    )
    hub = HubServe(proc, mllp, http, url, token)
    try:
        for _ in range(worker_processes if broker_url else 0):
            hub.workers.append(
                subprocess.Popen(
                    [hub_bin(), "worker", f"--concurrency={worker_concurrency}"],
                    env=env,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            )
        wait_port(mllp, proc)
        wait_port(http, proc)
        if hub.workers:
            time.sleep(5)  # let the Celery workers connect to the broker before any clock starts
        yield hub
    finally:
        for p in [proc, *hub.workers]:
            _stop(p)
        if hub._engine is not None:
            hub._engine.dispose()
        out.close()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``hub serve`` supervises its worker processes), read from
    ``/proc``; a process that ends while we read is left out."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces; the ppid follows the state
        parent_of[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [c for c, parent in parent_of.items() if parent in frontier]
        tree.extend(frontier)
    return tree
