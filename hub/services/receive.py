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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from hub.errors import Conflict, HubError, Location, Severity
from hub.services.ingest import AnswerBuilder, Inbound, IngestOutcome, IngestService

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


class Ingestor(Protocol):
    """What listeners, routers and replay need of a protocol's receiver."""

    def handle(self, raw: bytes) -> bytes: ...

    def peek(self, raw: bytes) -> Inbound: ...


class Receiver(Generic[D]):
    def __init__(self, ingest: IngestService, adapter: IngestAdapter[D]) -> None:
        self.ingest = ingest
        self.adapter = adapter

    def handle(self, raw: bytes) -> bytes:
        """One document or a batch in, the answer bytes out (b"" when none is wanted)."""
        split, join = self.adapter.split, self.adapter.join
        parts = split(raw) if split is not None else None
        if parts is None or join is None:
            return self.receive(raw)
        return join([self.receive(part) for part in parts])

    def receive(self, raw: bytes) -> bytes:
        look = self.adapter.inspect(raw)
        stored = self.ingest.ingest(look.inbound, answer=self._answer(look))
        return stored.answer or b""

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
