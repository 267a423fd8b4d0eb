"""Store, then answer (DESIGN.md section 3, step 2).

Adapters peek the header, then call :meth:`IngestService.ingest` with the raw bytes and a
function that builds their answer (an ACK). One transaction writes the message (with its search
columns and lane keys) and its answer; only after the commit does the adapter get the answer to
send. A stored message's receipt audit event and patient references are written after the ACK
(hub.store.receipts, docs/adr/0026); a held or refused one's in the same transaction. If the
commit fails, :class:`hub.errors.StoreUnavailable` propagates and the adapter must not
acknowledge (close the MLLP connection, HTTP 503).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hub.clock import Clock
from hub.errors import HubError, safe_error_text
from hub.queue.dispatch import Dispatcher
from hub.store import audit, lanes
from hub.store import messages as store
from hub.store.db import UnitOfWorkFactory
from hub.store.lifecycle import Status

log = logging.getLogger(__name__)


class IngestOutcome(StrEnum):
    STORED = "stored"  # new, queued for processing
    DUPLICATE = "duplicate"  # resend (same canonical form): original answer, not processed again
    HELD = "held"  # same sender + control id as an accepted message, other content: held
    REJECTED = "rejected"  # bad input: stored as failed with its reason, answered AE/AR


@dataclass(frozen=True, slots=True)
class Inbound:
    """What an adapter learned from peeking the header. No PHI beyond identifiers."""

    protocol: str
    raw: bytes
    sender: str = ""
    receiver: str = ""
    control_id: str = ""
    type: str = ""
    # The lanes this unit waits in (ADR 0005, 0009): a patient, a claim, both; any number
    # (an A40 merge: both patients). Empty: ordered on its own.
    lane_keys: tuple[str, ...] = ()
    patient_refs: tuple[str, ...] = ()
    meta: dict[str, Any] | None = None
    rejected: HubError | None = None  # set when the adapter already knows the input is bad
    revision_of: int | None = None
    # The adapter's canonical form of ``raw`` (None: raw itself). Resends are recognised by it,
    # so framing differences (BOM, line endings) do not make a resend look new.
    canonical: bytes | None = None

    @property
    def lane_key(self) -> str | None:
        """The first lane key (a patient's lane, for HL7 v2), if any."""
        return self.lane_keys[0] if self.lane_keys else None


@dataclass(frozen=True, slots=True)
class Stored:
    message_id: int
    outcome: IngestOutcome
    answer: bytes | None
    sha256: str = field(default="")


# Builds the answer from the new message id and outcome, inside the storing transaction.
AnswerBuilder = Callable[[int, IngestOutcome], bytes | None]


class IngestService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, dispatcher: Dispatcher) -> None:
        self.uow = uow
        self.clock = clock
        self.dispatcher = dispatcher

    def ingest(
        self,
        inbound: Inbound,
        answer: AnswerBuilder | None = None,
        *,
        actor: str = "feed",
        dispatch: bool = True,
    ) -> Stored:
        """Store ``inbound`` and answer it. ``dispatch=False`` leaves waking a worker to the
        caller (the synchronous path processes the message itself, or dispatches when it
        cannot); the sweeper finds the message anyway should the caller die."""
        sha = hashlib.sha256(inbound.raw).hexdigest()
        form = inbound.canonical if inbound.canonical is not None else inbound.raw
        canonical_sha = sha if form is inbound.raw else hashlib.sha256(form).hexdigest()
        now = self.clock.now()
        with self.uow() as uow:
            lanes.lock_lanes(
                uow.conn,
                *inbound.lane_keys,
                f"sha256:{canonical_sha}",
                # without a control id there is no held-duplicate check to protect
                inbound.control_id
                and f"control:{inbound.protocol}|{inbound.sender}|{inbound.control_id}",
            )
            if inbound.revision_of is None:
                identical = store.find_identical(uow.conn, inbound.protocol, canonical_sha)
                if identical is not None:
                    uow.commit()
                    log.info("duplicate resend", extra={"message_id": identical[0], "sha256": sha})
                    return Stored(identical[0], IngestOutcome.DUPLICATE, identical[1], sha)
            outcome, status, dup_of, err_code, err_text = self._classify(uow.conn, inbound)
            # A stored message's receipt event and patient references follow the ACK (written
            # by its worker's lease or the audit sealer; docs/adr/0026): this transaction holds
            # only what AA promises. Held and refused ones, never leased, are audited here.
            later = outcome is IngestOutcome.STORED
            message_id = store.insert(
                uow.conn,
                store.NewMessage(
                    protocol=inbound.protocol,
                    raw=inbound.raw,
                    sha256=sha,
                    canonical_sha256=canonical_sha,
                    status=status,
                    received_at=now,
                    sender=inbound.sender,
                    receiver=inbound.receiver,
                    control_id=inbound.control_id,
                    type=inbound.type,
                    lane_keys=inbound.lane_keys,
                    patient_refs=inbound.patient_refs,
                    meta=inbound.meta,
                    revision_of=inbound.revision_of,
                    duplicate_of=dup_of,
                    last_error_code=err_code,
                    last_error=err_text,
                    receipt_actor=actor if later else None,
                ),
            )
            body = answer(message_id, outcome) if answer is not None else None
            if body is not None:
                store.set_answer(uow.conn, message_id, body)
            if outcome is IngestOutcome.REJECTED:
                attempt = store.start_attempt(
                    uow.conn,
                    message_id,
                    stage="ingest",
                    number=1,
                    worker="ingest",
                    now=now,
                    replay=False,
                )
                store.end_attempt(
                    uow.conn,
                    attempt,
                    outcome="failed",
                    now=now,
                    error_code=err_code,
                    error_text=err_text,
                )
            if not later:
                audit.append(
                    uow.conn,
                    at=now,
                    actor=actor,
                    action="message.received",
                    object_type="message",
                    object_id=message_id,
                    detail={
                        "protocol": inbound.protocol,
                        "type": inbound.type,
                        "sha256": sha,
                        "outcome": outcome.value,
                    },
                )
            uow.commit()
        log.info(
            "message stored",
            extra={
                "message_id": message_id,
                "sha256": sha,
                "outcome": outcome.value,
                "type": inbound.type,
            },
        )
        if outcome is IngestOutcome.HELD and body is None:
            # The sender asked for no answer (HL7 MSH-15 NE), so nobody hears of the hold but
            # from here and from /metrics (hub_held_unanswered).
            log.warning(
                "held suspected duplicate, no answer sent to the sender",
                extra={
                    "message_id": message_id,
                    "duplicate_of": dup_of,
                    "protocol": inbound.protocol,
                    "control_id": inbound.control_id[:64],
                },
            )
        if outcome is IngestOutcome.STORED and dispatch:
            self.dispatcher.dispatch(message_id)
        return Stored(message_id, outcome, body, sha)

    @staticmethod
    def _classify(
        conn: Any, inbound: Inbound
    ) -> tuple[IngestOutcome, Status, int | None, str | None, str | None]:
        if inbound.rejected is not None:
            code, text = safe_error_text(inbound.rejected)
            return IngestOutcome.REJECTED, Status.FAILED, None, code, text
        if inbound.revision_of is None:
            same = store.find_same_control_id(
                conn, inbound.protocol, inbound.sender, inbound.control_id
            )
            if same is not None:
                return (
                    IngestOutcome.HELD,
                    Status.HELD,
                    same,
                    "suspected_duplicate",
                    f"control id already used by message {same} with different content",
                )
        return IngestOutcome.STORED, Status.RECEIVED, None, None, None
