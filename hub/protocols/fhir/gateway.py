"""What the FHIR routers need inside one hub, handed to them as the protocol's receiver.

The plug-in contract gives a router factory the :class:`~hub.protocols.contract.ApiKit` and the
protocol's :class:`~hub.services.receive.Ingestor`; FHIR needs more than bytes-in/answer-out
(reads, the registry of types, later the synchronous write path), so its runtime's receiver is
a :class:`FhirGateway`: an Ingestor (delegating to the core's receiver) that carries them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.clock import Clock
from hub.config import Settings
from hub.errors import ConfigError
from hub.protocols.fhir.reads import FhirReads
from hub.protocols.fhir.registry import ResourceRegistry
from hub.services.ingest import Inbound
from hub.services.origin import Origin
from hub.services.receive import Ingestor


@dataclass
class FhirGateway:
    receiver: Ingestor
    registry: ResourceRegistry
    reads: FhirReads
    settings: Settings
    clock: Clock

    def handle(self, raw: bytes, origin: Origin | None = None) -> bytes:
        return self.receiver.handle(raw, origin)

    def peek(self, raw: bytes) -> Inbound:
        return self.receiver.peek(raw)


def gateway_of(service: Ingestor) -> FhirGateway:
    if not isinstance(service, FhirGateway):
        raise ConfigError("the FHIR routers need the FHIR plug-in's gateway as receiver")
    return service
