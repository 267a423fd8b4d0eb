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
from hub.protocols.fhir import bundles, http, validate, write_parts, writes
from hub.protocols.fhir.aliases import AliasedReads
from hub.protocols.fhir.gateway import FhirGateway
from hub.protocols.fhir.ingest import PROTOCOL, adapter
from hub.protocols.fhir.pm_reads import PmFhirReads
from hub.protocols.fhir.registry import ResourceRegistry
from hub.protocols.fhir.resources import register_reads
from hub.services.pm_reads import PmReadService


def build(core: Core) -> ProtocolRuntime:
    registry = ResourceRegistry()
    register_reads(registry)
    write_parts.register_writes(registry)
    writes_service = write_parts.write_service(core)
    reads = PmFhirReads(PmReadService(uow=core.uow, clock=core.clock), registry)
    gateway = FhirGateway(
        receiver=core.receiver(adapter()),
        registry=registry,
        reads=AliasedReads(reads, writes_service),
        settings=core.settings,
        clock=core.clock,
        writes=writes_service,
    )
    return ProtocolRuntime(
        receiver=gateway,
        processors=write_parts.processors(),
        splitters=write_parts.splitters(),
    )


plugin = ProtocolPlugin(
    name=PROTOCOL,
    build=build,
    # the status URL before the reads (their /fhir/{type}/{id} would take it); the fallback last
    routers=[
        writes.status_router,
        validate.router,
        http.router,
        writes.router,
        bundles.router,
        http.fallback,
    ],
)
