"""HL7 v2 ingest: bytes in, ACK out, stored first (DESIGN.md section 3, step 2).

Used by the MLLP listener (:func:`mllp_service`) and ``POST /hl7v2``. Per message: parse once
with the hub's tokenizer, run the light checks (:mod:`hub.adapters.hl7v2.checks`), peek the
header, then :meth:`IngestService.ingest` stores raw bytes and metadata and builds the ACK inside
the same transaction. Only after the commit is the ACK returned; if the store is unavailable,
:class:`StoreUnavailable` propagates and the transport answers nothing (MLLP closes the
connection, HTTP answers 503), so the sender retries.

Outcomes and their ACKs:

* new and valid: AA (CA in enhanced mode), queued for processing;
* invalid (light checks): stored as failed, AE/AR with ERR (table 0357 code and location);
* unparseable (no MSH, bad encoding characters): stored as failed with type "", AR with ERR
  located at MSH, using the default delimiters ``|^~\\&``;
* byte-identical resend: the stored original ACK, not processed again;
* same sender + MSH-10 with different bytes: stored and held for review, AA with an ERR
  warning (205, duplicate key) at MSH-10.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from hub.adapters.hl7v2.ack import build_ack, build_batch_ack
from hub.adapters.hl7v2.checks import check
from hub.adapters.hl7v2.errors import error_for, location
from hub.adapters.hl7v2.peek import peek
from hub.adapters.hl7v2.tokenizer import Message, is_batch, parse, split_batch
from hub.clock import Clock
from hub.config import Settings
from hub.errors import HubError, ParseError, Severity, StoreUnavailable
from hub.queue.registry import ProcessorRegistry
from hub.services.hl7v2_outbound import register_outbound
from hub.services.hl7v2_processors import register_processors
from hub.services.ingest import AnswerBuilder, Inbound, IngestOutcome, IngestService
from hub.services.replay import Peeker

log = logging.getLogger(__name__)

PROTOCOL = "hl7v2"


class HubLike(Protocol):
    """What this module needs of :class:`hub.bootstrap.Hub` (services sit below bootstrap)."""

    settings: Settings
    clock: Clock
    registry: ProcessorRegistry
    ingest: IngestService
    peekers: dict[str, Peeker]
    services: list[Callable[..., Awaitable[None]]]
    extras: dict[str, Any]


class Hl7v2Service:
    def __init__(
        self,
        *,
        ingest: IngestService,
        registry: ProcessorRegistry,
        clock: Clock,
        default_charset: str = "utf-8",
    ) -> None:
        self.ingest = ingest
        self.registry = registry
        self.clock = clock
        self.default_charset = default_charset

    def supported(self) -> frozenset[str]:
        """``CODE^TRIGGER`` keys with a registered processor (``ADT^*`` and ``*`` included)."""
        return self.registry.supported(PROTOCOL)

    def handle(self, raw: bytes) -> bytes:
        """One message or an FHS/BHS batch in, the ACK bytes out (b"" when none is wanted)."""
        if is_batch(raw):
            return self.handle_batch(raw)
        return self.handle_one(raw)

    def handle_one(self, raw: bytes) -> bytes:
        inbound, msg, errors = self._inspect(raw)
        stored = self.ingest.ingest(inbound, answer=self._answer(msg, errors))
        return stored.answer or b""

    def handle_batch(self, raw: bytes) -> bytes:
        """Each message of the batch stored and acknowledged on its own; ACKs in BHS/BTS."""
        acks = [self.handle_one(message) for message in split_batch(raw)]
        return build_batch_ack(acks, now=self.clock.now())

    def peek_inbound(self, raw: bytes) -> Inbound:
        """The :data:`Peeker` for edit-and-replay: the same look as live ingest gives."""
        return self._inspect(raw)[0]

    def _inspect(self, raw: bytes) -> tuple[Inbound, Message | None, list[HubError]]:
        try:
            msg = parse(raw, default_charset=self.default_charset)
        except ParseError as err:
            return Inbound(protocol=PROTOCOL, raw=raw, rejected=err), None, [err]
        errors = check(msg, self.supported())
        rejected = next((e for e in errors if e.severity in (Severity.ERROR, Severity.FATAL)), None)
        head = peek(msg)
        inbound = Inbound(
            protocol=PROTOCOL,
            raw=raw,
            sender=head.sender,
            receiver=head.receiver,
            control_id=head.control_id,
            type=head.type,
            lane_key=head.lane_key,
            lane_key2=head.lane_key2,
            patient_refs=head.patient_refs,
            meta={"structure": head.structure, "version": head.version},
            rejected=rejected,
        )
        return inbound, msg, errors

    def _answer(self, msg: Message | None, errors: list[HubError]) -> AnswerBuilder:
        def build(message_id: int, outcome: IngestOutcome) -> bytes | None:
            found = list(errors)
            if outcome is IngestOutcome.HELD:
                found.append(
                    error_for(
                        205,
                        "control id already used with different content; held for review",
                        location("MSH", 10),
                        Severity.WARNING,
                    )
                )
            return build_ack(msg, found, control_id=f"ACK{message_id}", now=self.clock.now())

        return build


async def mllp_service(hub: HubLike, stop: asyncio.Event) -> None:
    """The MLLP listener of ``hub serve``: runs until ``stop`` is set."""
    from hub.adapters.transport.mllp_server import MllpServer, server_ssl_context

    service: Hl7v2Service = hub.extras[PROTOCOL]
    settings = hub.settings

    async def handler(frame: bytes, peer: str) -> bytes | None:
        try:
            return await asyncio.to_thread(service.handle, frame)
        except StoreUnavailable:
            # Not stored, so no ACK: closing makes the sender resend (DESIGN.md section 3).
            log.warning("store unavailable, closing without ACK", extra={"peer": peer})
            return None

    ssl_context = None
    if settings.mllp_tls_cert is not None and settings.mllp_tls_key is not None:
        ssl_context = server_ssl_context(settings.mllp_tls_cert, settings.mllp_tls_key)
    server = MllpServer(
        handler,
        settings.mllp_host,
        settings.mllp_port,
        ssl_context=ssl_context,
        max_frame_bytes=settings.mllp_max_frame_bytes,
        read_timeout=settings.mllp_read_timeout,
        idle_timeout=settings.mllp_idle_timeout,
        max_connections=settings.mllp_max_connections,
    )
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.close()


def register(hub: HubLike) -> None:
    """Plugin entry (``hub.bootstrap.default_plugins``): service, peeker, MLLP, processors."""
    service = Hl7v2Service(
        ingest=hub.ingest,
        registry=hub.registry,
        clock=hub.clock,
        default_charset=hub.settings.hl7_default_charset,
    )
    hub.extras[PROTOCOL] = service
    hub.peekers[PROTOCOL] = service.peek_inbound
    hub.services.append(mllp_service)
    # Its own HubLike declares ``settings: object``; a protocol attribute is invariant.
    register_processors(cast(Any, hub))
    register_outbound(cast(Any, hub))  # SIU forwarding subscriber and the MSA answer judge
