"""Celery wiring, used when ``HUB_BROKER_URL`` is set.

The task carries only the message id (never the payload, never PHI). ``acks_late`` with
``reject_on_worker_lost`` means a worker killed mid-task leaves the task on the broker; and
should the broker itself lose it (a Redis restart without persistence), the sweeper dispatches
the lane head again. The database decides what is leasable, so a duplicate task is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from celery import Celery

log = logging.getLogger(__name__)

TASK_NAME = "hub.process_message"


def make_celery(broker_url: str) -> Celery:
    app = Celery("hub", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Dispatch must fail fast when the broker is down (ingest has already committed and is
        # about to acknowledge; the sweeper re-dispatches later). Without these a publish to a
        # dead Redis took ~6 s (refused) or hung (unreachable host): regression-tested.
        broker_connection_timeout=2,
        broker_transport_options={
            "visibility_timeout": 3600,
            "socket_connect_timeout": 2,
            "socket_timeout": 2,
            "max_retries": 0,
        },
        task_default_queue="hub",
        worker_hijack_root_logger=False,
    )
    return app


def register_task(app: Celery, handler: Callable[[int], int]) -> None:
    """Bind the process task to ``handler`` (the pipeline's drain of one lane)."""

    @app.task(name=TASK_NAME, bind=False)  # type: ignore[untyped-decorator]
    def process_message(message_id: int) -> int:
        return handler(int(message_id))


def install_worker_hooks(
    app: Celery,
    *,
    child_started: Callable[[], None],
    ready: Callable[[], None],
    stopping: Callable[[], None],
) -> None:
    """Wire the hub into a worker's life: ``child_started`` in each forked pool process (drop
    the connections inherited from the parent), ``ready`` once in the main process after the
    pool has forked (start the sweeper there, never before a fork), ``stopping`` at shutdown.
    """
    from celery import signals

    def _child(**_: object) -> None:
        child_started()

    def _ready(sender: object = None, **_: object) -> None:
        if getattr(sender, "app", app) is app:
            ready()

    def _stopping(sender: object = None, **_: object) -> None:
        stopping()

    signals.worker_process_init.connect(_child, weak=False)
    signals.worker_ready.connect(_ready, weak=False)
    signals.worker_shutdown.connect(_stopping, weak=False)


def run_worker(app: Celery, argv: list[str]) -> int:
    """Run ``celery worker`` in this process and return its exit code.

    ``Celery.worker_main`` drops the code: a worker that stops on an "unrecoverable error"
    (Celery's Redis transport can raise one while reconnecting after a broker restart) would
    return normally and the process would exit 0, which a supervisor reads as a clean stop.
    The worker controller records the code; it is taken from there. No controller means the
    worker never started, which is a failure too.
    """
    from celery import signals

    controllers: list[object] = []

    def _init(sender: object = None, **_: object) -> None:
        controllers.append(sender)

    signals.worker_init.connect(_init, weak=False)
    try:
        app.worker_main(argv)
    finally:
        signals.worker_init.disconnect(_init)
    if not controllers:
        return 1
    code = getattr(controllers[-1], "exitcode", None)
    return int(code) if isinstance(code, int) else 0


class CeleryDispatcher:
    """Publishes the process task. A failed publish opens a ``cooldown`` during which further
    dispatches are skipped: each publish to a dead or silent broker costs up to the socket
    timeout, and ingest dispatches before it answers, so without the cooldown every ACK would
    wait for it. Nothing is lost by skipping: the sweeper dispatches every waiting lane head.
    """

    def __init__(self, app: Celery, *, cooldown: float = 5.0) -> None:
        self.app = app
        self.cooldown = cooldown
        self._down_until = 0.0
        self._lock = threading.Lock()

    def dispatch(self, message_id: int, *, countdown: float = 0.0) -> None:
        with self._lock:
            if time.monotonic() < self._down_until:
                return
        try:
            self.app.send_task(
                TASK_NAME, args=[message_id], countdown=countdown or None, retry=False
            )
        except Exception:  # broker down: the message is stored; the sweeper will dispatch it
            with self._lock:
                self._down_until = time.monotonic() + self.cooldown
            log.warning("dispatch failed; sweeper will retry", extra={"message_id": message_id})
