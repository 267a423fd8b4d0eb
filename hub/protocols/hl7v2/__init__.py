"""HL7 v2 as a protocol plug-in: the first user of :mod:`hub.protocols.contract`.

Parts: the ingest adapter (:class:`hub.services.hl7v2.Hl7v2Service`: tokenizer peek, light
checks, the ACK as answer renderer, FHS/BHS batches), the ADT/SIU/DFT processors with their
prepare steps (:mod:`hub.services.hl7v2_processors`), the MLLP listener, ``POST /hl7v2``
(:mod:`.http`), ``hub send`` (:mod:`.cli`) and the conformance driver (:mod:`.conformance`).
"""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from hub.mappings.hl7v2_pm import SUPPORTED_TYPES
from hub.protocols.contract import Core, ProcessorSpec, ProtocolPlugin, ProtocolRuntime
from hub.protocols.hl7v2 import cli, http
from hub.protocols.hl7v2.conformance import Hl7v2Conformance
from hub.services.hl7v2 import PROTOCOL, Hl7v2Service, mllp_service
from hub.services.hl7v2_processors import make_prepare, make_processor


def build(core: Core) -> ProtocolRuntime:
    settings = core.settings
    service = Hl7v2Service(
        registry=core.registry, clock=core.clock, default_charset=settings.hl7_default_charset
    )
    receiver = core.receiver(service.adapter())
    tz, validation = ZoneInfo(settings.practice_timezone), settings.validation_for
    processor, prepare = make_processor(tz, validation), make_prepare(tz, validation)

    async def mllp(stop: asyncio.Event) -> None:
        await mllp_service(receiver, settings, stop)

    return ProtocolRuntime(
        receiver=receiver,
        processors=[ProcessorSpec(t, processor, prepare) for t in SUPPORTED_TYPES],
        listeners=[mllp],
    )


plugin = ProtocolPlugin(
    name=PROTOCOL,
    build=build,
    routers=[http.router],
    commands=[cli.install],
    conformance=Hl7v2Conformance(),
)
