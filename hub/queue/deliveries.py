"""The delivery worker: sends outbound messages to their destinations (DESIGN.md section 3.5).

Design (the simplest one that stays reliable): deliveries are driven from the database by a
few threads, in embedded mode *and* when a broker is configured. :meth:`Hub.start_background
<hub.bootstrap.Hub.start_background>` starts them, so `hub serve` always delivers; `hub worker`
(Celery) does not. No Celery task is needed: an outbound send is I/O bound, the lease plus
``SKIP LOCKED`` claim lets any number of processes deliver side by side, and a process that
creates deliveries elsewhere (the CLI) is picked up within ``poll`` seconds.

One attempt, in three steps:

1. claim (one transaction): lease the head of a destination's lane (:mod:`hub.store.deliveries`)
   and open its ``deliver`` attempt;
2. send the stored bytes over MLLP and read the ACK, outside any transaction;
3. record (one transaction): the new status, the attempt's end, the audit event.

How the ACK is judged (v2.5.1 section 2.9.2, MSA table 0008):

- AA / CA with MSA-2 equal to the sent MSH-10: ``sent``;
- MSA-2 different, or a reply that is not an ACK: not acknowledged, so retried (transient);
- AE / AR / CE / CR: ``failed`` with the ERR codes (no free text: it may quote patient data),
  replayable with ``hub deliveries retry``;
- receiver down, refused, timed out (:class:`~hub.errors.DeliveryError`): ``retrying`` with the
  retry policy's backoff and jitter, ``dead`` once the attempts are used up.

Expired leases (a worker that died mid-send) are released every ``sweep_interval``; a lease that
ran out is claimable again even before that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from hub.adapters.hl7v2.ack import parse_ack
from hub.adapters.hl7v2.errors import TEXT_0357, code_0357
from hub.adapters.transport.mllp_client import MllpClient
from hub.clock import Clock
from hub.errors import DeliveryError, HubError, ValidationError, safe_error_text
from hub.queue.retry import Action, RetryPolicy
from hub.store import audit
from hub.store import deliveries as store
from hub.store.db import UnitOfWorkFactory
from hub.store.deliveries import Claimed, Destination
from hub.store.lifecycle import DeliveryStatus

log = logging.getLogger(__name__)

# Sends ``payload`` to a destination and returns the reply payload; raises DeliveryError.
Transport = Callable[[Destination, bytes], bytes]

_ACCEPTED = frozenset({"AA", "CA"})
_REJECTED = frozenset({"AE", "AR", "CE", "CR"})


@dataclass(frozen=True, slots=True)
class Judgement:
    """What one reply means for the delivery."""

    status: DeliveryStatus | None  # SENT or FAILED; None: transient, the policy decides
    error: HubError | None = None


class AckRejected(HubError):
    """The receiver answered AE/AR/CE/CR: permanent until a human retries it."""

    code = "ack_rejected"


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError(
            f"MLLP address must be HOST:PORT, got {address!r}", code="bad_address"
        )
    return host.strip("[]"), int(port)


def judge_reply(reply: bytes, control_id: str) -> Judgement:
    """Pure: the delivery outcome a reply stands for. Logs and errors carry ids and codes only."""
    try:
        ack = parse_ack(reply)
    except HubError as exc:
        return Judgement(
            None, DeliveryError(f"reply is not a readable ACK ({exc.code})", code="ack_unreadable")
        )
    code = (ack.code or "").upper()
    if ack.control_id_acked != control_id:
        # Not the answer to this message (a stale ACK, a receiver mix-up): not delivered.
        return Judgement(
            None,
            DeliveryError(
                f"MSA-2 {ack.control_id_acked!r} does not match the sent MSH-10 {control_id!r}",
                code="ack_mismatch",
            ),
        )
    if code in _ACCEPTED:
        return Judgement(DeliveryStatus.SENT)
    if code in _REJECTED:
        return Judgement(
            DeliveryStatus.FAILED,
            AckRejected(
                f"receiver answered {code}{_err_summary(ack.errors)}", code=f"ack_{code.lower()}"
            ),
        )
    return Judgement(
        None, DeliveryError(f"unknown MSA-1 acknowledgment code {code!r}", code="ack_unreadable")
    )


def _err_summary(errors: Sequence[HubError]) -> str:
    """ERR codes and locations as ``: 101 Required field missing at PID-3; ...``.

    Only the table 0357 code, its standard text and the location are kept: ERR-8 and MSA-3 are
    the receiver's free text and may quote patient data.
    """
    parts = []
    for err in errors[:5]:
        number = code_0357(err)
        where = f" at {err.location}" if err.location is not None else ""
        parts.append(f"{number} {TEXT_0357.get(number, '')}".rstrip() + where)
    return (": " + "; ".join(parts)) if parts else ""


def mllp_transport(*, connect_timeout: float, read_timeout: float) -> Transport:
    def send(dest: Destination, payload: bytes) -> bytes:
        if dest.kind != "mllp":
            raise ValidationError(
                f"destination kind {dest.kind!r} is not delivered yet",
                code="unsupported_destination",
            )
        host, port = split_address(dest.address)
        with MllpClient(
            host, port, connect_timeout=connect_timeout, read_timeout=read_timeout
        ) as client:
            return client.send(payload)

    return send


class DeliveryWorker:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        policy: RetryPolicy,
        clock: Clock,
        transport: Transport | None = None,
        lease_seconds: float = 60.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        threads: int = 2,
        poll: float = 0.5,
        sweep_interval: float = 5.0,
        peek_uow: UnitOfWorkFactory | None = None,
    ) -> None:
        self.uow = uow
        self.peek_uow = peek_uow
        self.policy = policy
        self.clock = clock
        self.transport = transport or mllp_transport(
            connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        # A lease must outlive one whole send (connect retries + reading the ACK).
        self.lease = timedelta(seconds=max(lease_seconds, 3 * connect_timeout + read_timeout + 5))
        self.threads = threads
        self.poll = poll
        self.sweep_interval = sweep_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- one attempt -----------------------------------------------------------------------

    def run_next(self, worker: str = "deliver") -> DeliveryStatus | None:
        """Claim, send and record one delivery; ``None`` when nothing is due."""
        now = self.clock.now()
        if self.peek_uow is not None:
            # SQLite: an idle poll reads a snapshot instead of queueing for the single writer
            with self.peek_uow() as ro:
                if not store.has_due(ro.conn, now):
                    return None
        with self.uow() as uow:
            claimed = store.claim(uow.conn, now=now, lease_until=now + self.lease, worker=worker)
            uow.commit()
        if claimed is None:
            return None
        try:
            reply = self.transport(claimed.destination, claimed.raw)
            judgement = judge_reply(reply, claimed.delivery.control_id)
        except Exception as exc:  # every failure is recorded; none escapes the worker
            judgement = Judgement(None, exc if isinstance(exc, HubError) else _wrap(exc))
        return self._record(claimed, judgement)

    def _record(self, claimed: Claimed, judgement: Judgement) -> DeliveryStatus:
        rec = claimed.delivery
        number = rec.attempt_count  # already counts this attempt
        now = self.clock.now()
        next_at = None
        code = text = None
        if judgement.status is DeliveryStatus.SENT:
            status, outcome = DeliveryStatus.SENT, "ok"
        elif judgement.status is DeliveryStatus.FAILED:
            status, outcome = DeliveryStatus.FAILED, "failed"
        else:
            assert judgement.error is not None
            decision = self.policy.decide(judgement.error, number)
            status = {
                Action.RETRY: DeliveryStatus.RETRYING,
                Action.FAIL: DeliveryStatus.FAILED,
                Action.DEAD: DeliveryStatus.DEAD,
            }[decision.action]
            outcome = {Action.RETRY: "retry", Action.FAIL: "failed", Action.DEAD: "dead"}[
                decision.action
            ]
            if decision.action is Action.RETRY:
                next_at = now + timedelta(seconds=decision.delay)
        if judgement.error is not None:
            code, text = safe_error_text(judgement.error)
        with self.uow() as uow:
            current = store.finish(
                uow.conn,
                claimed,
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
                        "attempt": claimed.attempt_number,
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
                "attempt": claimed.attempt_number,
            },
        )
        return status

    def run_until_idle(self, worker: str = "inline", limit: int = 10_000) -> int:
        """Deliver in the calling thread until nothing is due (CLI one-shots, tests)."""
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
        """New deliveries were committed in this process: look now instead of at the next poll."""
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

    def _run(self, name: str, sweeps: bool) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            try:
                if sweeps and time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + self.sweep_interval
                status = self.run_next(name)
            except Exception:  # DB down: back off and try again, never die
                log.exception("delivery worker %s could not claim", name)
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
