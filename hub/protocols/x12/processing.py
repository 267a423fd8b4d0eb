"""What processes stored X12 documents: the readers' processors and splitters.

The X12 plug-in registers whatever these return (:mod:`hub.protocols.x12`). Until the readers
are installed, both lists are empty, so a stored file waits as ``received`` and fails with
``no_processor`` when processed.
"""

from __future__ import annotations

from hub.protocols.contract import Core, ProcessorSpec, SplitterSpec


def processor_specs(core: Core) -> list[ProcessorSpec]:
    """Processors per X12 item or document type."""
    del core
    return []


def splitter_specs(core: Core) -> list[SplitterSpec]:
    """Splitters of X12 documents into work items (one per claim)."""
    del core
    return []
