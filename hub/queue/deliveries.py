"""The delivery worker: sends outbound payloads to their destinations (DESIGN.md section 3.5).

Generic over the transport: it imports no protocol code. The composition root hands it one
:class:`~hub.adapters.transport.base.Transport` per destination kind (``mllp``, ``http``,
``file``) and a :class:`JudgeRegistry` that the protocol packages fill (HL7 v2 registers its
MSA judge for ``mllp``; the HTTP-status and file-written judges are the transports' own
defaults). See docs/adr/0008.

Deliveries are driven from the database by a few threads, in embedded mode *and* when a broker
is configured: :meth:`Hub.start_background <hub.bootstrap.Hub.start_background>` starts them, so
`hub serve` always delivers; `hub worker` (Celery) does not. An outbound send is I/O bound, and
the lease plus ``SKIP LOCKED`` lets any number of processes deliver side by side. The first
thread also runs the outbox relay (:mod:`hub.queue.outbox`), which turns domain events into
deliveries.

One attempt, in three steps:

1. lease (one transaction): the head of a destination's lane (:mod:`hub.store.deliveries`),
   its destination not paused, and open its ``deliver`` attempt;
2. send the stored bytes with the destination kind's transport and judge the answer with the
   judge registered for (payload protocol, destination kind), outside any transaction;
3. record (one transaction): the new status, the attempt's end, the audit event.

Outcomes: sent; rejected (``failed``, waits for ``hub deliveries retry``); otherwise the
:class:`~hub.queue.delivery_retry.HorizonPolicy` decides with the destination's retry horizon:
``retrying`` with capped backoff, ``dead`` once the horizon is reached, ``failed`` at once for a
permanent error (a misconfigured destination). Expired leases (a worker that died mid-send) are
released every ``sweep_interval``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import timedelta

from hub.adapters.transport.base import Judge, Judgement, Outcome, Outgoing, Transport
from hub.clock import Clock
from hub.errors import DeliveryError, HubError, ValidationError, safe_error_text
from hub.queue.delivery_retry import HorizonPolicy
from hub.queue.outbox import OutboxRelay
from hub.queue.retry import Action
from hub.store import audit
from hub.store import deliveries as store
from hub.store.db import UnitOfWorkFactory
from hub.store.deliveries import Leased
from hub.store.lifecycle import DeliveryStatus

log = logging.getLogger(__name__)

_BY_ACTION = {
    Action.RETRY: (DeliveryStatus.RETRYING, "retry"),
    Action.FAIL: (DeliveryStatus.FAILED, "failed"),
    Action.DEAD: (DeliveryStatus.DEAD, "dead"),
}


class JudgeRegistry:
    """Answer judges by (payload protocol, destination kind), with a per-kind default."""

    def __init__(self) -> None:
        self._judges: dict[tuple[str | None, str], Judge] = {}

    def register(self, kind: str, judge: Judge, *, protocol: str | None = None) -> None:
        self._judges[(protocol, kind)] = judge

    def find(self, kind: str, protocol: str) -> Judge | None:
        return self._judges.get((protocol, kind)) or self._judges.get((None, kind))


class DeliveryWorker:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        policy: HorizonPolicy,
        clock: Clock,
        transports: Mapping[str, Transport],
        judges: JudgeRegistry | None = None,
        relay: OutboxRelay | None = None,
        lease_seconds: float = 60.0,
        send_timeout: float = 40.0,
        threads: int = 2,
        poll: float = 0.5,
        sweep_interval: float = 5.0,
        peek_uow: UnitOfWorkFactory | None = None,
    ) -> None:
        self.uow = uow
        self.peek_uow = peek_uow
        self.policy = policy
        self.clock = clock
        self.transports = dict(transports)
        self.judges = judges or JudgeRegistry()
        self.relay = relay
        # A lease must outlive one whole send (connect retries + reading the answer).
        self.lease = timedelta(seconds=max(lease_seconds, send_timeout + 5))
        self.threads = threads
        self.poll = poll
        self.sweep_interval = sweep_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- one attempt -----------------------------------------------------------------------

    def run_next(self, worker: str = "deliver") -> DeliveryStatus | None:
        """Lease, send and record one delivery; ``None`` when nothing is due."""
        now = self.clock.now()
        if self.peek_uow is not None:
            # SQLite: an idle poll reads a snapshot instead of queueing for the single writer
            with self.peek_uow() as ro:
                if not store.has_due(ro.conn, now):
                    return None
        with self.uow() as uow:
            leased = store.lease(uow.conn, now=now, lease_until=now + self.lease, worker=worker)
            uow.commit()
        if leased is None:
            return None
        return self._record(leased, self.attempt(leased))

    def attempt(self, leased: Leased) -> Judgement:
        """Send one leased delivery and judge the answer; never raises."""
        rec, dest = leased.delivery, leased.destination
        transport = self.transports.get(dest.kind)
        judge = self.judges.find(dest.kind, rec.protocol)
        if transport is None or judge is None:
            what = "transport" if transport is None else "answer judge"
            return Judgement(
                Outcome.RETRY,
                ValidationError(
                    f"no {what} for {rec.protocol or 'payload'} over {dest.kind}",
                    code="unsupported_destination",
                ),
            )
        payload = Outgoing(
            body=leased.raw,
            delivery_id=rec.id,
            control_id=rec.control_id,
            protocol=rec.protocol,
            type=rec.type,
            headers=rec.headers or {},
        )
        try:
            return judge(payload, transport.send(dest, payload))
        except Exception as exc:  # every failure is recorded; none escapes the worker
            return Judgement(Outcome.RETRY, exc if isinstance(exc, HubError) else _wrap(exc))

    def _record(self, leased: Leased, judgement: Judgement) -> DeliveryStatus:
        rec = leased.delivery
        now = self.clock.now()
        next_at = None
        code = text = None
        if judgement.outcome is Outcome.SENT:
            status, outcome = DeliveryStatus.SENT, "ok"
        elif judgement.outcome is Outcome.REJECTED:
            status, outcome = DeliveryStatus.FAILED, "failed"
        else:
            assert judgement.error is not None
            policy = self.policy.for_horizon(leased.destination.retry_horizon)
            elapsed = (now - rec.horizon_start).total_seconds()
            decision = policy.decide(judgement.error, rec.attempt_count, elapsed)
            status, outcome = _BY_ACTION[decision.action]
            if decision.action is Action.RETRY:
                next_at = now + timedelta(seconds=decision.delay)
        if judgement.error is not None:
            code, text = safe_error_text(judgement.error)
        with self.uow() as uow:
            current = store.finish(
                uow.conn,
                leased,
                status,
                now=now,
                outcome=outcome,
                next_attempt_at=next_at,
                error_code=code,
                error_text=text,
            )
            if current:
                audit.append(
                    uow.conn,
                    at=now,
                    actor="deliveries",
                    action=f"delivery.{status.value}",
                    object_type="delivery",
                    object_id=rec.id,
                    detail={
                        "destination": rec.destination,
                        "message_id": rec.message_id,
                        "attempt": leased.attempt_number,
                        "error_code": code,
                    },
                )
            uow.commit()
        log_fn = log.info if status is DeliveryStatus.SENT else log.warning
        log_fn(
            "delivery %s",
            status.value,
            extra={
                "delivery_id": rec.id,
                "message_id": rec.message_id,
                "control_id": rec.control_id,
                "error_code": code,
                "attempt": leased.attempt_number,
            },
        )
        return status

    def run_until_idle(self, worker: str = "inline", limit: int = 10_000) -> int:
        """Relay pending events, then deliver in the calling thread until nothing is due
        (CLI one-shots, tests); returns how many deliveries were attempted."""
        if self.relay is not None:
            self.relay.run_until_idle()
        done = 0
        while done < limit and self.run_next(worker) is not None:
            done += 1
        return done

    def sweep(self) -> int:
        """Release expired leases; returns how many."""
        now = self.clock.now()
        with self.uow() as uow:
            released = store.release_expired(uow.conn, now)
            for delivery_id in released:
                audit.append(
                    uow.conn,
                    at=now,
                    actor="sweeper",
                    action="delivery.lease_expired",
                    object_type="delivery",
                    object_id=delivery_id,
                )
            uow.commit()
        return len(released)

    # -- threads ---------------------------------------------------------------------------

    def wake(self) -> None:
        """New events or deliveries were committed in this process: look now."""
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        for n in range(self.threads):
            t = threading.Thread(
                target=self._run,
                args=(f"deliver-{n}", n == 0),
                name=f"hub-deliver-{n}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()
        for transport in self.transports.values():
            close = getattr(transport, "close", None)
            if callable(close):
                close()

    def _run(self, name: str, first: bool) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            try:
                if first and time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + self.sweep_interval
                if first and self.relay is not None:
                    self.relay.run_until_idle(limit=100)
                status = self.run_next(name)
            except Exception:  # DB down: back off and try again, never die
                log.exception("delivery worker %s could not lease", name)
                self._stop.wait(1.0)
                continue
            if status is None:
                self._wake.wait(self._idle_wait())
                self._wake.clear()
            else:
                self._wake.set()  # there may be more, for other destinations too

    def _idle_wait(self) -> float:
        """Sleep until the next retry falls due, at most ``poll``."""
        now = self.clock.now()
        try:
            with (self.peek_uow or self.uow)() as uow:
                due = store.next_due_at(uow.conn, now)
        except HubError:
            return self.poll
        if due is None:
            return self.poll
        return min(self.poll, max(0.01, (due - now).total_seconds()))


def _wrap(exc: BaseException) -> HubError:
    code, text = safe_error_text(exc)
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return DeliveryError(text, code="delivery")
    return HubError(text, code=code)
