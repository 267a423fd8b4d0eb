"""The sweeper: the reason a lost broker message or a killed worker only delays a message.

Every ``interval`` it (1) hands back messages whose worker's lease expired, and (2) dispatches
every leasable lane head that has waited longer than ``stale_after`` (a dispatch that was lost,
a retry whose time has come).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from hub.clock import Clock
from hub.queue.dispatch import Dispatcher
from hub.store import audit, lanes
from hub.store.db import UnitOfWorkFactory

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        dispatcher: Dispatcher,
        interval: float = 5.0,
        stale_after: float | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.dispatcher = dispatcher
        self.interval = interval
        self.stale_after = timedelta(seconds=stale_after if stale_after is not None else interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> tuple[int, int]:
        """One pass; returns (leases released, heads dispatched)."""
        now = self.clock.now()
        released: list[int] = []
        with self.uow() as uow:
            for message_id in lanes.expired_leases(uow.conn, now):
                if lanes.release_lease(uow.conn, message_id, now):
                    audit.append(
                        uow.conn,
                        at=now,
                        actor="sweeper",
                        action="message.lease_expired",
                        object_type="message",
                        object_id=message_id,
                    )
                    released.append(message_id)
            uow.commit()
        with self.uow() as uow:
            heads = lanes.due_heads(uow.conn, now, older_than=now - self.stale_after)
        # a unit handed back just now is dispatched at once (its updated_at is now, so the
        # stale-head scan would leave it for another interval)
        wake = sorted(set(heads) | set(released))
        for message_id in wake:
            self.dispatcher.dispatch(message_id)
        if released or wake:
            log.info("sweep", extra={"released": len(released), "dispatched": len(wake)})
        return len(released), len(wake)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hub-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # a failed sweep (DB restarting) is tried again next interval
                log.exception("sweep failed")
