"""``hub serve`` (HTTP + MLLP + workers) and ``hub worker`` (Celery)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import socket
import subprocess
import sys
import time

import typer
import uvicorn

from hub import logs
from hub.api.app import create_app
from hub.api.server import uvicorn_config
from hub.bootstrap import Hub, bootstrap
from hub.cli.worker_processes import (
    CHILD_FLAG,
    READY_FLAG,
    WorkerProcesses,
    run_worker_process,
)
from hub.config import Settings, load_settings
from hub.errors import ConfigError
from hub.queue.dispatch import PipeDispatcher
from hub.store import keys

log = logging.getLogger("hub.serve")

# Descriptors ``hub serve`` needs besides MLLP connections held: pooled database connections
# (SQLite: the file, its WAL and shm each), HTTP clients, outbound deliveries, log and audit
# files (about 20 idle), and the accept burst: asyncio accepts up to the listen backlog (100)
# in one go before the admission check closes those past the bound.
FD_RESERVE = 256
_FD_CEILING = 1 << 20  # a hard limit of "unlimited" is still capped by the kernel (nr_open)


def fd_soft_limit(soft: int, hard: int) -> int:
    """The soft RLIMIT_NOFILE to run with: the hard limit (the ceiling if it is unlimited).
    The soft default (often 1,024) is a historical guard for select(); asyncio uses epoll."""
    ceiling = _FD_CEILING if hard == resource.RLIM_INFINITY else hard
    return max(soft, ceiling)


def raise_fd_limit(max_connections: int) -> int:
    """Raise the soft descriptor limit as far as allowed and return how many MLLP connections
    it can hold: ``max_connections``, or fewer (with a warning) when the limit minus a reserve
    is lower. Past the descriptor limit ``accept()`` fails with EMFILE and senders wait in the
    backlog; under the lowered bound they are refused on accept, closed at once (ADR 0015)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = fd_soft_limit(soft, hard)
    while target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            target //= 2  # above the kernel's nr_open: try lower
    fits = max(1, soft - FD_RESERVE)
    if fits < max_connections:
        log.warning(
            "file descriptor limit too low for HUB_MLLP_MAX_CONNECTIONS; using a lower bound",
            extra={"limit": soft, "max_connections": max_connections, "using": fits},
        )
        return fits
    return max_connections


def _first_start_hint(hub: Hub) -> None:
    with hub.uow() as uow:
        admins = keys.count_admins(uow.conn)
    if admins == 0:
        typer.echo(
            "hub: no admin API key yet. Create one with:\n"
            "    hub keys create --role admin --name you\n"
            "and feed keys for your EHR interfaces with --role feed.",
            err=True,
        )


async def _serve(hub: Hub, workers: WorkerProcesses | None = None) -> None:
    settings = hub.settings
    app = create_app(hub)
    server = uvicorn.Server(uvicorn_config(app, settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Future[None]] = [
        asyncio.ensure_future(listener(stop)) for listener in hub.listeners
    ]
    if workers is not None:
        tasks.append(asyncio.ensure_future(_supervise(workers, stop)))
    http = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await http
    await asyncio.gather(*tasks, return_exceptions=True)


async def _supervise(workers: WorkerProcesses, stop: asyncio.Event) -> None:
    """Check the worker processes twice a second; stop everything once they keep dying."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)
        if not stop.is_set() and not workers.check():
            stop.set()


def _run_serve(settings: Settings) -> int:
    """The listening process; with worker processes, their supervisor (docs/adr/0026)."""
    # Embedded default: the workers run in child processes (docs/adr/0026), woken by pipe.
    split = not settings.broker_url and settings.worker_processes > 0
    pipe = PipeDispatcher() if split else None
    hub = bootstrap(settings, dispatcher=pipe, embedded_workers=not split)
    _first_start_hint(hub)
    workers = None
    if pipe is not None:
        workers = WorkerProcesses(settings.worker_processes, pipe)
        hub.start_background(processing=False)  # the children run workers and the rest
        mode = f"{settings.worker_processes} worker process(es) x {settings.workers} workers"
    else:
        hub.start_background()
        mode = "celery" if settings.broker_url else f"{settings.workers} in-process workers"
    log.info(
        f"hub serving http://{settings.http_host}:{settings.http_port} "
        f"mllp {settings.mllp_host}:{settings.mllp_port} ({mode})"
    )
    try:
        if workers is not None:
            workers.start()
            if workers.wait_ready():
                log.info("worker processes ready", extra={"count": settings.worker_processes})
        asyncio.run(_serve(hub, workers))
    finally:
        if workers is not None:
            workers.stop()  # after the listeners: what they stored gets processed later
        hub.stop()
    return 1 if workers is not None and workers.gave_up else 0


def install(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        worker_process: bool = typer.Option(False, CHILD_FLAG, hidden=True),
        ready_fd: int | None = typer.Option(None, READY_FLAG, hidden=True),
    ) -> None:
        """HTTP API + admin UI, MLLP listener, workers (in-process unless a broker is set)."""
        settings = load_settings()
        logs.configure(settings.log_level, json_lines=settings.log_json)
        if worker_process:
            raise typer.Exit(run_worker_process(settings, ready_fd))
        bound = raise_fd_limit(settings.mllp_max_connections)
        settings = settings.model_copy(update={"mllp_max_connections": bound})
        code = _run_serve(settings)
        if code:
            raise typer.Exit(code)

    @app.command("worker")
    def worker(
        concurrency: int = typer.Option(4, min=1, help="worker processes"),
        pool: str = typer.Option("prefork", help="prefork | threads | solo"),
        child: bool = typer.Option(False, "--child", hidden=True),
    ) -> None:
        """A Celery worker (needs HUB_BROKER_URL); also runs the sweeper.

        The command supervises the Celery worker in a child process and starts it again if it
        dies (Celery can exit with an "unrecoverable error" when its broker restarts).
        SIGTERM / SIGINT are passed on and stop both.
        """
        settings = load_settings()
        if not settings.broker_url:
            raise ConfigError("hub worker needs HUB_BROKER_URL (redis://... or amqp://...)")
        logs.configure(settings.log_level, json_lines=settings.log_json)
        if not child:
            args = ["worker", "--child", f"--concurrency={concurrency}", f"--pool={pool}"]
            raise typer.Exit(supervise([sys.executable, "-m", "hub", *args]))
        hub = bootstrap(settings, embedded_workers=False)
        from hub.queue.celery_app import install_worker_hooks, run_worker

        # The prefork pool forks after this point: children must not share the parent's pooled
        # DB connections, and the sweeper thread starts only once the pool exists.
        def ready() -> None:
            hub.sweeper.start()
            if hub.audit is not None:
                hub.audit.start()  # sealers take turns under a database lock: one per node is fine

        def stopping() -> None:
            hub.sweeper.stop()
            if hub.audit is not None:
                hub.audit.stop()

        install_worker_hooks(
            hub.celery,
            child_started=lambda: hub.engine.dispose(close=False),
            ready=ready,
            stopping=stopping,
        )
        argv = [
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            "-Q",
            "hub",
            "-n",
            f"hub@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ]
        try:
            code = run_worker(hub.celery, argv)
        finally:
            hub.stop()
        if code:
            raise typer.Exit(code)


def supervise(argv: list[str], *, max_delay: float = 30.0) -> int:
    """Run ``argv`` until it exits cleanly or we are told to stop; restart it when it dies.

    Restarts back off (1 s, doubling to ``max_delay``) while the child keeps dying within a
    minute of its start, so a broker that stays down does not spin. Returns the exit code.
    """
    stopping = False
    proc: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if proc is not None and proc.poll() is None:
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    delay = 1.0
    try:
        while True:
            started = time.monotonic()
            proc = subprocess.Popen(argv)
            code = proc.wait()
            if stopping or code == 0:
                return code
            delay = delay if time.monotonic() - started < 60 else 1.0
            log.error(
                "celery worker exited; starting it again",
                extra={"exit_code": code, "delay": delay},
            )
            deadline = time.monotonic() + delay
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.1)
            if stopping:
                return code
            delay = min(delay * 2, max_delay)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
