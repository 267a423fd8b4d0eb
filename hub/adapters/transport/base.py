"""One transport interface for every outbound delivery (DESIGN.md section 3, step 5).

A transport moves bytes to a destination and reports what came back; it never decides what the
answer *means*. That is the answer judge's job, one per protocol (HL7 v2: MSA-2 against the sent
MSH-10; HTTP: the status code; file: written), registered by the protocol's side and looked up
by the delivery queue, which itself imports no protocol code (docs/adr/0008).

::

    queue ──lease──► Outgoing ──Transport.send(destination, payload)──► TransportResult
                                                                          │
                           Judgement (sent / rejected / retry) ◄──judge───┘

Every third-party exception (socket, ssl, httpx, OSError) is mapped to :mod:`hub.errors` inside
the transport: :class:`~hub.errors.DeliveryError` (transient: the receiver is down, slow or
unreachable; retried until the destination's horizon) or an
:class:`~hub.errors.InputError` (permanent: the destination itself is misconfigured).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from hub.errors import HubError
from hub.store.deliveries import Destination


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What one delivery attempt sends: the stored bytes and the ids a transport may need."""

    body: bytes
    delivery_id: int
    control_id: str = ""
    protocol: str = ""  # of the outbound message: hl7v2, fhir, x12...
    type: str = ""  # e.g. SIU^S12
    headers: Mapping[str, str] = field(default_factory=dict)  # HTTP: from the subscriber


@dataclass(frozen=True, slots=True)
class TransportResult:
    """What came back. The reply body is kept only where a judge needs it (an HL7 ACK)."""

    reply: bytes = b""  # MLLP: the reply frame's payload
    status: int | None = None  # HTTP: the response status code
    written: str | None = None  # file: the final file name


class Outcome(StrEnum):
    SENT = "sent"  # the receiver has it
    REJECTED = "rejected"  # the receiver said no: permanent until a human retries
    RETRY = "retry"  # not delivered yet: the retry policy decides


@dataclass(frozen=True, slots=True)
class Judgement:
    """What one answer means for the delivery; ``error`` is PHI-free (codes, ids)."""

    outcome: Outcome
    error: HubError | None = None


class Transport(Protocol):
    """``send`` raises :class:`~hub.errors.HubError` only (transient or permanent)."""

    def send(self, destination: Destination, payload: Outgoing) -> TransportResult: ...


# judge(payload sent, what came back) -> what it means
Judge = Callable[[Outgoing, TransportResult], Judgement]
