"""``hub serve`` as a real subprocess for tests: each in its own session, logs kept per start.

The test protocol plugin is loaded so streams from :mod:`support.ordering` can be fed through
the in-process ingest service as well as the hub's own listeners.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from conftest import free_port

REPO = Path(__file__).resolve().parents[2]
HUB = str(Path(sys.executable).with_name("hub"))


class Serve:
    """``hub serve`` processes on one data directory; ``extra_env`` adds or overrides ``HUB_*``.

    Each start gets a fresh HTTP port and, unless told which, a fresh MLLP port
    (``mllp_port`` is the latest one's). ``prefix`` runs it under a wrapper that execs it
    (``prlimit --nofile=N:N``), so the process and its pid stay the hub's."""

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path,
        extra_env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
    ):
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.extra_env = dict(extra_env or {})
        self.prefix = list(prefix)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.mllp_port = 0

    def start(self, *, mllp_port: int | None = None) -> subprocess.Popen[bytes]:
        self.mllp_port = mllp_port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_DATA_DIR=str(self.data_dir),
            HUB_HTTP_PORT=str(free_port()),
            HUB_MLLP_PORT=str(self.mllp_port),
            HUB_PLUGINS="support.pipeline_plugin:register",
            HUB_LEASE_SECONDS="2",
            HUB_SWEEP_INTERVAL="0.2",
            HUB_LOG_LEVEL="WARNING",
            PYTHONPATH=str(REPO / "tests"),
        )
        env.update(self.extra_env)
        log = (self.log_dir / f"serve-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [*self.prefix, HUB, "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_dir.glob("serve-*.log"))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
