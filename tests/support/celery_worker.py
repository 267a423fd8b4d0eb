"""Start and kill real ``hub worker`` processes (Celery, prefork, 4 processes) for tests.

The worker loads the ``test`` processor through ``HUB_PLUGINS`` and runs the sweeper; each
worker gets its own session so a SIGKILL of the process group kills it and its pool children
at once, as a crashed container would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class WorkerPool:
    database_url: str
    broker_url: str
    log_dir: Path
    lease_seconds: float = 3.0
    extra_env: dict[str, str] = field(default_factory=dict)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            HUB_DATABASE_URL=self.database_url,
            HUB_BROKER_URL=self.broker_url,
            HUB_LEASE_SECONDS=str(self.lease_seconds),
            HUB_SWEEP_INTERVAL="1",
            HUB_PLUGINS="support.pipeline_plugin:register",
            HUB_DATA_DIR=str(self.log_dir / "var"),
            HUB_LOG_LEVEL="WARNING",
            PYTHONPATH=str(REPO / "tests"),
        )
        env.update(self.extra_env)
        return env

    def start(self, concurrency: int = 4) -> subprocess.Popen[bytes]:
        n = len(self.started)
        log = (self.log_dir / f"worker-{n}.log").open("wb")
        hub = Path(sys.executable).with_name("hub")
        proc = subprocess.Popen(
            [str(hub), "worker", f"--concurrency={concurrency}"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.log_dir,
        )
        log.close()
        self.started.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its pool children (its own process group)."""
        with contextlib.suppress(ProcessLookupError):  # the group outlives its leader
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.started:
            self.kill(proc)

    def logs(self, tail: int | None = 3000) -> str:
        """The workers' output, each log's last ``tail`` characters (``None``: all of it)."""
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-(tail or 0) :]
            for p in sorted(self.log_dir.glob("worker-*.log"))
        )
