"""A protocol plug-in for tests in a few lines: a processor for every type, a peeker, and an
answer that names the stored message (no protocol rules)."""

from __future__ import annotations

from collections.abc import Callable

from hub.errors import LineLocation
from hub.protocols.contract import Core, ProcessorSpec, ProtocolPlugin, ProtocolRuntime
from hub.queue.registry import Processor
from hub.services.ingest import Inbound
from hub.services.receive import IngestAdapter, Inspection


def simple_plugin(
    name: str,
    process: Processor,
    peek: Callable[[bytes], Inbound] | None = None,
    *,
    setup: Callable[[Core], None] | None = None,
) -> ProtocolPlugin:
    look = peek or (lambda raw: Inbound(protocol=name, raw=raw))

    def build(core: Core) -> ProtocolRuntime:
        if setup is not None:
            setup(core)
        adapter: IngestAdapter[None] = IngestAdapter(
            inspect=lambda raw: Inspection(look(raw), None),
            render=lambda _doc, _errors, message_id: f"stored {message_id}".encode(),
            control_id_at=LineLocation(1),
        )
        return ProtocolRuntime(
            receiver=core.receiver(adapter), processors=[ProcessorSpec("*", process)]
        )

    return ProtocolPlugin(name=name, build=build)
