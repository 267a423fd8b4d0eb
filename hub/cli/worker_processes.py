"""``hub serve``'s worker processes: ingest and processing apart (docs/adr/0026).

On the embedded default (no broker) ``hub serve`` keeps the listeners (MLLP, HTTP, file drops)
in its own process and runs the in-process workers, the sweeper, outbound deliveries and the
audit sealer in ``HUB_WORKER_PROCESSES`` child processes (default 1; 0 keeps everything in one
process). Both share the database; SQLite's WAL lets the listener commit receipts while a worker
process applies a batch, and each interpreter has its own GIL, so ingest and processing overlap
on two cores instead of adding up on one.

Supervision: the listening process starts the children and waits until each reports that its
workers run (a byte on a pipe, ``--ready-fd``) before it listens, so the first messages are
processed as they arrive instead of behind a child still importing (whose start-up, on a
small machine, also took CPU from the first seconds of ingest); it then checks them twice
a second. A child that dies is started again and logged; one that keeps dying (``_MAX_DEATHS``
within ``_WINDOW`` seconds) stops the whole hub with an error, rather than ACK messages that
nothing would ever process. On SIGTERM/SIGINT the listeners stop first (no new connections,
in-flight messages finish), then the children get SIGTERM and finish their batch.

Wake-ups: each child's stdin is a pipe; the listener writes one byte per stored message
(:class:`~hub.queue.dispatch.PipeDispatcher`) and the child wakes one worker per byte. The pipe
doubles as the parent's heartbeat: end of file means the listening process is gone (even
``kill -9``), and the child stops instead of running on unsupervised.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque

from hub.config import Settings
from hub.queue.dispatch import PipeDispatcher, WakeupDispatcher

log = logging.getLogger("hub.serve")

_MAX_DEATHS = 5
_WINDOW = 60.0
CHILD_FLAG = "--worker-process"
READY_FLAG = "--ready-fd"


class WorkerProcesses:
    """Starts, watches and stops ``count`` worker processes fed by ``dispatcher``."""

    def __init__(
        self,
        count: int,
        dispatcher: PipeDispatcher,
        *,
        argv: list[str] | None = None,
        stop_timeout: float = 30.0,
    ) -> None:
        self.count = count
        self.dispatcher = dispatcher
        self.argv = argv or [sys.executable, "-m", "hub", "serve", CHILD_FLAG]
        self.stop_timeout = stop_timeout
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self._pipes: list[int | None] = [None] * count
        self._ready: dict[int, int] = {}  # slot -> read end of its ready pipe, until read
        self._deaths: deque[float] = deque()
        self.gave_up = False

    def start(self) -> None:
        for slot in range(self.count):
            self._spawn(slot, report_ready=True)

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Wait until every child started by :meth:`start` runs its workers (or has exited:
        :meth:`check` then starts it again). False, with a warning, past ``timeout``: the hub
        listens anyway, what it stores waits for the workers."""
        deadline = time.monotonic() + timeout
        while self._ready:
            left = deadline - time.monotonic()
            poller = select.poll()  # not select(): descriptors above 1024 are fine
            for fd in self._ready.values():
                poller.register(fd, select.POLLIN)
            readable = {fd for fd, _ in poller.poll(max(0.0, left) * 1000)}
            if not readable:
                log.warning(
                    "worker processes not ready; listening anyway",
                    extra={"waiting": len(self._ready), "timeout_s": timeout},
                )
                return False
            for slot, fd in list(self._ready.items()):
                if fd in readable:
                    os.read(fd, 1)  # b"" when the child exited first: check() restarts it
                    os.close(fd)
                    del self._ready[slot]
        return True

    def _spawn(self, slot: int, *, report_ready: bool = False) -> None:
        read_end, write_end = os.pipe()
        argv = self.argv
        keep: tuple[int, ...] = ()
        if report_ready:
            ready_read, ready_write = os.pipe()
            argv, keep = [*self.argv, f"{READY_FLAG}={ready_write}"], (ready_write,)
        try:
            # Same process group: whatever kills the hub's group (kill -9, a service manager)
            # kills its workers too. A Ctrl-C in the terminal is left to the supervisor (the
            # child ignores SIGINT), which stops the listeners before the workers.
            proc = subprocess.Popen(argv, stdin=read_end, pass_fds=keep)
        finally:
            os.close(read_end)
            for fd in keep:
                os.close(fd)
        if report_ready:
            self._ready[slot] = ready_read
        self._procs[slot] = proc
        self._pipes[slot] = write_end
        self.dispatcher.attach(slot, write_end)
        log.info("worker process started", extra={"slot": slot, "pid": proc.pid})

    def _close_pipe(self, slot: int) -> None:
        fd = self._pipes[slot]
        self._pipes[slot] = None
        self.dispatcher.attach(slot, None)
        if fd is not None:
            os.close(fd)

    def check(self) -> bool:
        """Start again any child that died; False once they keep dying (stop the hub)."""
        for slot, proc in enumerate(self._procs):
            if proc is None or proc.poll() is None:
                continue
            self._close_pipe(slot)
            self._procs[slot] = None
            now = time.monotonic()
            self._deaths.append(now)
            while self._deaths and now - self._deaths[0] > _WINDOW:
                self._deaths.popleft()
            if len(self._deaths) >= _MAX_DEATHS:
                log.error(
                    "worker processes keep dying; stopping the hub so that nothing is "
                    "acknowledged that no worker would process",
                    extra={"slot": slot, "exit_code": proc.returncode, "deaths": _MAX_DEATHS},
                )
                self.gave_up = True
                return False
            log.error(
                "worker process died; starting it again",
                extra={"slot": slot, "pid": proc.pid, "exit_code": proc.returncode},
            )
            self._spawn(slot)
        return True

    def alive(self) -> list[int]:
        """Pids of the running children (tests, logs)."""
        return [p.pid for p in self._procs if p is not None and p.poll() is None]

    def stop(self) -> None:
        """SIGTERM every child, wait for it to finish its batch, kill it past the timeout."""
        procs = [(slot, p) for slot, p in enumerate(self._procs) if p is not None]
        for _slot, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for slot, proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker process did not stop; killing it", extra={"pid": proc.pid})
                proc.kill()
                proc.wait()
            self._close_pipe(slot)
            self._procs[slot] = None


def _read_wakeups(fd: int, wakeup: WakeupDispatcher, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            log.warning("listening process gone; worker process stopping")
            stop.set()
            return
        wakeup.wake(len(data))


def run_worker_process(settings: Settings, ready_fd: int | None = None) -> int:
    """The child's main: workers, sweeper, deliveries and audit sealer until told to stop.
    ``ready_fd``: a pipe to write one byte to once the workers run (see the module docstring)."""
    from hub.bootstrap import bootstrap

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides (see WorkerProcesses)
    hub = bootstrap(settings, migrate=False, embedded_workers=True)
    try:
        if isinstance(hub.dispatcher, WakeupDispatcher):
            reader = threading.Thread(
                target=_read_wakeups,
                args=(sys.stdin.fileno(), hub.dispatcher, stop),
                name="hub-wakeups",
                daemon=True,
            )
            reader.start()
        hub.start_background()
        log.info("worker process serving", extra={"pid": os.getpid(), "workers": settings.workers})
        if ready_fd is not None:
            _report_ready(ready_fd)
        while not stop.wait(1.0):
            pass
    finally:
        hub.stop()
    return 0


def _report_ready(fd: int) -> None:
    try:
        os.write(fd, b"r")
    except OSError:  # the supervisor stopped waiting (or is gone: the stdin pipe tells)
        pass
    finally:
        os.close(fd)
