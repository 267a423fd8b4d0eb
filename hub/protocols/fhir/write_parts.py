"""The write side's parts in the FHIR plug-in: the service, its processors and splitter, and
the interactions it adds to the resource registry (so ``/fhir/metadata`` states them)."""

from __future__ import annotations

from hub.clock import Clock
from hub.errors import ConfigError
from hub.mappings.fhir_pm import WRITABLE_TYPES
from hub.protocols.contract import Core, ProcessorSpec, SplitterSpec
from hub.protocols.fhir import validate
from hub.protocols.fhir.bundle_reads import EntryReader
from hub.protocols.fhir.registry import (
    Interaction,
    ResourceRegistry,
    ResourceSpec,
    SystemInteraction,
)
from hub.services import fhir_processors as fp
from hub.services.fhir_writes import FhirWriteService


def write_service(core: Core) -> FhirWriteService:
    if core.synchronous is None:
        raise ConfigError("FHIR writes need the synchronous path (Core.synchronous)")
    settings = core.settings
    return FhirWriteService(
        uow=core.uow,
        synchronous=core.synchronous,
        clock=core.clock,
        wait_seconds=settings.fhir_sync_wait,
        async_entries=settings.fhir_async_entries,
        max_entries=settings.fhir_bundle_max_entries,
    )


def processors(registry: ResourceRegistry, clock: Clock) -> list[ProcessorSpec]:
    """The write processors; Bundles' GET entries read through the registry's types."""
    reads = EntryReader(registry, clock)
    return [
        ProcessorSpec(f"{fp.WRITE}*", fp.process_write, fp.prepare),
        ProcessorSpec(fp.TRANSACTION, fp.transaction_processor(reads), fp.prepare),
        ProcessorSpec(f"{fp.ITEM}*", fp.item_processor(reads), fp.prepare),
    ]


def splitters() -> list[SplitterSpec]:
    return [SplitterSpec(fp.BATCH, fp.split_batch, fp.peek_item)]


def register_writes(registry: ResourceRegistry) -> None:
    for kind in sorted(WRITABLE_TYPES):
        registry.register(
            ResourceSpec(
                kind,
                frozenset(
                    {Interaction.CREATE, Interaction.UPDATE, Interaction.PATCH, Interaction.DELETE}
                ),
                operations=(validate.OPERATION,),
                conditional_create=True,
                conditional_update=True,
                conditional_delete="single",
            )
        )
    registry.add_system(SystemInteraction.TRANSACTION, SystemInteraction.BATCH)
