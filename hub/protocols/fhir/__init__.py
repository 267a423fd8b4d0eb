"""FHIR R4 as a protocol plug-in (issue 11): fills :mod:`hub.protocols.contract`.

Parts: the ingest adapter (:mod:`.ingest`), the registry of served resource types from which
``/fhir/metadata`` is generated (:mod:`.registry`, filled by :mod:`.resources`), the gateway the
routers get as receiver (:mod:`.gateway`), the read routes (:mod:`.http`) over the PM's audited
reads (:mod:`.pm_reads`), and the answers, every error an OperationOutcome (:mod:`.answers`).
Writes, transactions and operations register their interactions in the same registry and
mount their routers before :func:`.http.fallback`, which must stay last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hub.pm.events import PmEntityChanged
from hub.protocols.contract import Core, ProtocolPlugin, ProtocolRuntime, SubscriberSpec
from hub.protocols.fhir import (
    bulk,
    bundles,
    convert,
    http,
    subscriptions,
    validate,
    write_parts,
    writes,
)
from hub.protocols.fhir.aliases import AliasedReads
from hub.protocols.fhir.conformance import FhirConformance
from hub.protocols.fhir.gateway import FhirGateway
from hub.protocols.fhir.ingest import PROTOCOL, adapter
from hub.protocols.fhir.pm_reads import PmFhirReads
from hub.protocols.fhir.registry import ResourceRegistry
from hub.protocols.fhir.resources import register_reads
from hub.services.fhir_export import ExportService
from hub.services.fhir_subscriptions import Matcher, SubscriptionService, notifier
from hub.services.pm_reads import PmReadService

log = logging.getLogger(__name__)


def build(core: Core) -> ProtocolRuntime:
    registry = ResourceRegistry()
    register_reads(registry)
    write_parts.register_writes(registry)
    writes_service = write_parts.write_service(core)
    convert.register(registry)
    subscriptions.register(registry)
    bulk.register(registry)
    reads = PmFhirReads(PmReadService(uow=core.uow, clock=core.clock), registry)
    gateway = FhirGateway(
        receiver=core.receiver(adapter()),
        registry=registry,
        reads=AliasedReads(reads, writes_service),
        settings=core.settings,
        clock=core.clock,
        writes=writes_service,
        subscriptions=SubscriptionService(
            uow=core.uow, clock=core.clock, served=frozenset(registry.specs) - {"Subscription"}
        ),
        exports=ExportService(
            uow=core.uow, clock=core.clock, root=core.settings.data_dir / "exports"
        ),
    )
    matcher = Matcher(uow=core.uow, clock=core.clock)

    async def match_changes(stop: asyncio.Event) -> None:
        """Announce PM changes to subscriptions, about twice a second, until ``stop``; a
        failed step (the database away) is logged and tried again, never ends the loop."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(matcher.poll)
            except Exception:  # the cursor did not move: the next step retries the same rows
                log.exception("FHIR subscription matcher step failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    return ProtocolRuntime(
        receiver=gateway,
        listeners=[match_changes],
        subscribers=[SubscriberSpec("fhir-subscriptions", notifier(), PmEntityChanged)],
        processors=write_parts.processors(registry, core.clock),
        splitters=write_parts.splitters(),
    )


plugin = ProtocolPlugin(
    name=PROTOCOL,
    build=build,
    conformance=FhirConformance(),
    # the status URL and the operations before the reads (their /fhir/{type} and
    # /fhir/{type}/{id} would take $export, $convert-hl7v2, Subscription); the fallback last
    routers=[
        writes.status_router,
        validate.router,
        convert.router,
        subscriptions.router,
        bulk.router,
        http.router,
        writes.router,
        bundles.router,
        http.fallback,
    ],
)
