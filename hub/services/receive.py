"""Receive: the one store-then-answer flow every protocol shares (DESIGN.md section 3, step 2).

A protocol supplies an :class:`IngestAdapter`: how to peek a document's header (and run its light
checks), how to render its answer (HL7: the ACK, AA or AE/AR with ERR), where its control id
sits, and optionally how to split a batch. The core wraps it in a :class:`Receiver`, which stores
the raw bytes through :class:`~hub.services.ingest.IngestService` and asks the protocol's renderer
for the answer inside the storing transaction, so only an answer about a committed message is
ever sent. A reused control id with different bytes is reported by the core, at the protocol's
own location (HL7 ``MSH-10``), as a warning the renderer puts in its answer.

Listeners (MLLP) and routers (``POST /hl7v2``) hand bytes to :meth:`Receiver.handle`; edit-and-
replay peeks with :meth:`Receiver.peek`, so a revision gets the same look as live ingest.

With the bytes comes their :class:`~hub.services.origin.Origin` (the API key, or the MLLP peer
and its certificate): it is the receipt's audit actor, and a sender bound to a credential
(``HUB_SENDER_BINDINGS``) that the origin does not carry is refused at the protocol's
``sender_at`` location (HL7 MSH-3), stored as failed with code ``sender_not_bound``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from hub.config import SenderBinding
from hub.errors import Conflict, Forbidden, HubError, Location, Severity
from hub.services.ingest import AnswerBuilder, Inbound, IngestOutcome, IngestService
from hub.services.origin import Origin, binding_allows

D = TypeVar("D")
D_contra = TypeVar("D_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class Inspection(Generic[D]):
    """What a protocol learned from one document before storing it: the header facts, the
    document as far as it could be read (None if not at all), and the light checks' findings."""

    inbound: Inbound
    document: D | None
    errors: tuple[HubError, ...] = ()


class AnswerRenderer(Protocol[D_contra]):
    """Renders a protocol's answer to one stored document, errors included (one place per
    protocol: HL7 ACK with ERR; later FHIR OperationOutcome, X12 TA1/999). ``None``: the sender
    asked for no answer (HL7 MSH-15 NE)."""

    def __call__(
        self, document: D_contra | None, errors: Sequence[HubError], message_id: int, /
    ) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class IngestAdapter(Generic[D]):
    """A protocol's part of receiving: header peek, answer renderer, and batch handling."""

    inspect: Callable[[bytes], Inspection[D]]
    render: AnswerRenderer[D]
    control_id_at: Location  # where a reused control id is reported (HL7 MSH-10)
    # A batch (HL7 FHS/BHS): ``split`` returns its documents (None: not a batch) and ``join``
    # wraps their answers; each document is stored and answered on its own.
    split: Callable[[bytes], Sequence[bytes] | None] | None = None
    join: Callable[[Sequence[bytes]], bytes] | None = None
    sender_at: Location | None = None  # where a refused sender is reported (HL7 MSH-3)


class Ingestor(Protocol):
    """What listeners, routers and replay need of a protocol's receiver."""

    def handle(self, raw: bytes, origin: Origin | None = None) -> bytes: ...

    def peek(self, raw: bytes) -> Inbound: ...


class Receiver(Generic[D]):
    def __init__(
        self,
        ingest: IngestService,
        adapter: IngestAdapter[D],
        bindings: Mapping[str, SenderBinding] | None = None,
    ) -> None:
        self.ingest = ingest
        self.adapter = adapter
        self.bindings = bindings or {}

    def handle(self, raw: bytes, origin: Origin | None = None) -> bytes:
        """One document or a batch in, the answer bytes out (b"" when none is wanted).

        ``origin`` None: the anonymous actor ``feed``, with no sender binding check."""
        split, join = self.adapter.split, self.adapter.join
        parts = split(raw) if split is not None else None
        if parts is None or join is None:
            return self.receive(raw, origin)
        return join([self.receive(part, origin) for part in parts])

    def receive(self, raw: bytes, origin: Origin | None = None) -> bytes:
        look = self.adapter.inspect(raw)
        if origin is not None:
            look = self._bound(look, origin)
        actor = origin.actor if origin is not None else "feed"
        stored = self.ingest.ingest(look.inbound, answer=self._answer(look), actor=actor)
        return stored.answer or b""

    def _bound(self, look: Inspection[D], origin: Origin) -> Inspection[D]:
        """The inspection, refused when its sender is bound to a credential ``origin`` lacks."""
        inbound = look.inbound
        if inbound.rejected is not None and look.document is None:
            return look  # unreadable: no sender to check
        if binding_allows(self.bindings, inbound.sender, origin):
            return look
        refused = Forbidden(
            "sender is bound to another credential (HUB_SENDER_BINDINGS)",
            code="sender_not_bound",
            location=self.adapter.sender_at,
        )
        return Inspection(
            replace(inbound, rejected=refused), look.document, (refused, *look.errors)
        )

    def peek(self, raw: bytes) -> Inbound:
        return self.adapter.inspect(raw).inbound

    def _answer(self, look: Inspection[D]) -> AnswerBuilder:
        def build(message_id: int, outcome: IngestOutcome) -> bytes | None:
            found = list(look.errors)
            if outcome is IngestOutcome.HELD:
                found.append(
                    Conflict(
                        "control id already used with different content; held for review",
                        code="duplicate_key",
                        location=self.adapter.control_id_at,
                        severity=Severity.WARNING,
                    )
                )
            return self.adapter.render(look.document, found, message_id)

        return build
