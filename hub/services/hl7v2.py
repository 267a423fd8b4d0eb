"""HL7 v2 ingest: bytes in, ACK out, stored first (DESIGN.md section 3, step 2).

Used by the MLLP listener (:func:`mllp_service`) and ``POST /hl7v2`` through the core's
:class:`~hub.services.receive.Receiver`. Per message: parse once with the hub's tokenizer, run
the light checks (:mod:`hub.adapters.hl7v2.checks`), peek the header; the receiver stores raw
bytes and metadata and asks :meth:`Hl7v2Service.render` for the ACK inside the same
transaction. Only after the commit is the ACK returned; if the store is unavailable,
:class:`StoreUnavailable` propagates and the transport answers nothing (MLLP closes the
connection, HTTP answers 503), so the sender retries. The plug-in that assembles this with the
processors, ``POST /hl7v2`` and ``hub send`` is :mod:`hub.protocols.hl7v2`.

Outcomes and their ACKs:

* new and valid: AA (CA in enhanced mode), queued for processing;
* invalid (light checks): stored as failed, AE/AR with ERR (table 0357 code and location);
* unparseable (no MSH, bad encoding characters): stored as failed with type "", AR with ERR
  located at MSH, using the default delimiters ``|^~\\&``;
* a field past its bounds (repetitions, components) or a malformed MSH-9
  (:mod:`hub.adapters.hl7v2.limits`): stored as failed with only its header read, AR with ERR
  102 at the field;
* a sender (MSH-3|MSH-4) bound to a credential the connection does not carry
  (``HUB_SENDER_BINDINGS``, checked by the receiver): stored as failed, AR with ERR 207 at MSH-3;
* resend (the same canonical form, :mod:`hub.adapters.hl7v2.canonical`: framing, BOM and line
  endings aside, the same bytes): the stored original ACK, not processed again; a resend of a
  refused message gets the same AE/AR again;
* same sender + MSH-10 with different content: stored and held for review, AA with an ERR
  warning (205, duplicate key) at MSH-10; unless the first message with that MSH-10 was refused
  (AE/AR), in which case this is the sender's corrected resend and is stored as new.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from hub.adapters.hl7v2.ack import build_ack, build_batch_ack
from hub.adapters.hl7v2.canonical import canonical
from hub.adapters.hl7v2.checks import check
from hub.adapters.hl7v2.limits import Limits, check_limits, check_type
from hub.adapters.hl7v2.peek import peek
from hub.adapters.hl7v2.tokenizer import Message, is_batch, parse, split_batch
from hub.clock import Clock
from hub.config import Settings
from hub.errors import Forbidden, Hl7Location, HubError, ParseError, Severity, StoreUnavailable
from hub.queue.registry import ProcessorRegistry
from hub.services.ingest import Inbound
from hub.services.origin import Origin
from hub.services.receive import IngestAdapter, Ingestor, Inspection

log = logging.getLogger(__name__)

PROTOCOL = "hl7v2"
# A reused MSH-10 is answered with ERR 205 (duplicate key) at MSH-10.
CONTROL_ID_AT = Hl7Location("MSH", field=10, sequence_in_text=False)
# A sender bound to another credential (HUB_SENDER_BINDINGS) is refused at MSH-3.
SENDER_AT = Hl7Location("MSH", field=3, sequence_in_text=False)


class Hl7v2Service:
    """HL7 v2's ingest adapter: peek and light checks, the ACK renderer, FHS/BHS batches."""

    def __init__(
        self,
        *,
        registry: ProcessorRegistry,
        clock: Clock,
        default_charset: str = "utf-8",
        limits: Limits | None = None,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.default_charset = default_charset
        self.limits = limits or Limits()

    def supported(self) -> frozenset[str]:
        """``CODE^TRIGGER`` keys with a registered processor (``ADT^*`` and ``*`` included)."""
        return self.registry.supported(PROTOCOL)

    def adapter(self) -> IngestAdapter[Message]:
        return IngestAdapter(
            inspect=self.inspect,
            render=self.render,
            control_id_at=CONTROL_ID_AT,
            split=self.split,
            join=self.join,
            sender_at=SENDER_AT,
        )

    def split(self, raw: bytes) -> list[bytes] | None:
        """The messages of an FHS/BHS batch, each stored and acknowledged on its own."""
        return split_batch(raw) if is_batch(raw) else None

    def join(self, acks: Sequence[bytes]) -> bytes:
        return build_batch_ack(acks, now=self.clock.now())

    def inspect(self, raw: bytes) -> Inspection[Message]:
        try:
            msg = parse(raw, default_charset=self.default_charset)
        except ParseError as err:
            inbound = Inbound(protocol=PROTOCOL, raw=raw, rejected=err, canonical=canonical(raw))
            return Inspection(inbound, None, (err,))
        over = check_limits(msg, self.limits)
        if over is not None:
            return Inspection(_header_only(raw, msg, over), msg, (over,))
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
            lane_keys=head.lane_keys,
            patient_refs=head.patient_refs,
            meta={"structure": head.structure, "version": head.version},
            rejected=rejected,
            canonical=canonical(raw),
        )
        return Inspection(inbound, msg, tuple(errors))

    def render(
        self, msg: Message | None, errors: Sequence[HubError], message_id: int
    ) -> bytes | None:
        """The ACK (AA, or AE/AR with ERR): HL7 v2's answer renderer."""
        # A refused sender is rejected (AR) whatever else the message holds. HL7 table 0357 has
        # no "not authorised" code: 207 with this text is what interface engines send for it.
        refused = "AR" if any(isinstance(e, Forbidden) for e in errors) else None
        return build_ack(
            msg, errors, control_id=f"ACK{message_id}", now=self.clock.now(), code=refused
        )


def _header_only(raw: bytes, msg: Message, error: ParseError) -> Inbound:
    """A message past its bounds: filed by its MSH alone, nothing else of it read."""
    msh = msg.msh
    return Inbound(
        protocol=PROTOCOL,
        raw=raw,
        sender=f"{msh.get(3)}|{msh.get(4)}",
        receiver=f"{msh.get(5)}|{msh.get(6)}",
        control_id=msg.control_id,
        type=msg.type if check_type(msg) is None else "",
        rejected=error,
        canonical=canonical(raw),
    )


async def mllp_service(service: Ingestor, settings: Settings, stop: asyncio.Event) -> None:
    """The MLLP listener of ``hub serve``: runs until ``stop`` is set."""
    from hub.adapters.transport.mllp_server import MllpServer, PeerInfo, server_ssl_context

    async def handler(frame: bytes, peer: PeerInfo) -> bytes | None:
        # the receipt's audit actor, and what a sender binding is checked against
        origin = Origin.mllp(str(peer), peer.cert_subject)
        try:
            return await asyncio.to_thread(service.handle, frame, origin)
        except StoreUnavailable as exc:
            # Not stored, so no ACK: closing makes the sender resend (DESIGN.md section 3).
            # The code says why (storage_full: the disk is full) and never any content.
            log.warning(
                f"store unavailable ({exc.message}); closing without ACK",
                extra={"peer": str(peer), "code": exc.code},
            )
            return None

    ssl_context = None
    if settings.mllp_tls_cert is not None and settings.mllp_tls_key is not None:
        ssl_context = server_ssl_context(
            settings.mllp_tls_cert, settings.mllp_tls_key, settings.mllp_tls_client_ca
        )
    server = MllpServer(
        handler,
        settings.mllp_host,
        settings.mllp_port,
        ssl_context=ssl_context,
        max_frame_bytes=settings.mllp_max_frame_bytes,
        read_timeout=settings.mllp_read_timeout,
        idle_timeout=settings.mllp_idle_timeout,
        max_connections=settings.mllp_max_connections,
        max_connections_per_peer=settings.mllp_max_connections_per_peer,
        max_stray_bytes=settings.mllp_max_stray_bytes,
        allow=settings.mllp_allow_networks,
    )
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.close()
