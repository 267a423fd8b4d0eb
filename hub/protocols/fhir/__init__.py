"""FHIR R4 as a protocol plug-in (issue 11): fills :mod:`hub.protocols.contract`.

Parts: the ingest adapter (:mod:`.ingest`), the registry of served resource types from which
``/fhir/metadata`` is generated (:mod:`.registry`, filled by :mod:`.resources`), the gateway the
routers get as receiver (:mod:`.gateway`), the read routes (:mod:`.http`) over the PM's audited
reads (:mod:`.pm_reads`), and the answers, every error an OperationOutcome (:mod:`.answers`).
Writes, transactions and operations register their interactions in the same registry and
mount their routers before :func:`.http.fallback`, which must stay last.
"""

from __future__ import annotations

from hub.protocols.contract import Core, ProtocolPlugin, ProtocolRuntime
from hub.protocols.fhir import http
from hub.protocols.fhir.gateway import FhirGateway
from hub.protocols.fhir.ingest import PROTOCOL, adapter
from hub.protocols.fhir.pm_reads import PmFhirReads
from hub.protocols.fhir.registry import ResourceRegistry
from hub.protocols.fhir.resources import register_reads
from hub.services.pm_reads import PmReadService


def build(core: Core) -> ProtocolRuntime:
    registry = ResourceRegistry()
    register_reads(registry)
    reads = PmFhirReads(PmReadService(uow=core.uow, clock=core.clock), registry)
    gateway = FhirGateway(
        receiver=core.receiver(adapter()),
        registry=registry,
        reads=reads,
        settings=core.settings,
        clock=core.clock,
    )
    return ProtocolRuntime(receiver=gateway)


plugin = ProtocolPlugin(name=PROTOCOL, build=build, routers=[http.router, http.fallback])
