"""HL7 v2 as a protocol plug-in: the first user of :mod:`hub.protocols.contract`.

Parts: the ingest adapter (:class:`hub.services.hl7v2.Hl7v2Service`: tokenizer peek, light
checks, the ACK as answer renderer, FHS/BHS batches), the ADT/SIU/DFT processors with their
prepare steps (:mod:`hub.services.hl7v2_processors`), the MLLP listener, ``POST /hl7v2``
(:mod:`.http`), ``hub send`` (:mod:`.cli`) and the conformance driver (:mod:`.conformance`).
"""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from hub.adapters.hl7v2.ack_judge import judge_hl7_ack
from hub.adapters.hl7v2.limits import Limits
from hub.mappings.hl7v2_pm import SUPPORTED_TYPES
from hub.pm.events import AppointmentEvent
from hub.protocols.contract import (
    Core,
    JudgeSpec,
    ProcessorSpec,
    ProtocolPlugin,
    ProtocolRuntime,
    SubscriberSpec,
)
from hub.protocols.hl7v2 import cli, http
from hub.protocols.hl7v2.conformance import Hl7v2Conformance
from hub.protocols.hl7v2.raw_view import Hl7RawRenderer
from hub.services.hl7v2 import PROTOCOL, Hl7v2Service, mllp_service
from hub.services.hl7v2_outbound import siu_forwarding
from hub.services.hl7v2_processors import make_prepare, make_processor


def build(core: Core) -> ProtocolRuntime:
    settings = core.settings
    service = Hl7v2Service(
        registry=core.registry,
        clock=core.clock,
        default_charset=settings.hl7_default_charset,
        limits=Limits(settings.hl7_max_repetitions, settings.hl7_max_components),
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
        # outbound: SIU forwarding from appointment events, and MSA read back over MLLP
        judges=[JudgeSpec("mllp", judge_hl7_ack)],
        subscribers=[SubscriberSpec("hl7v2-siu", siu_forwarding(), AppointmentEvent)],
    )


plugin = ProtocolPlugin(
    name=PROTOCOL,
    build=build,
    routers=[http.router],
    commands=[cli.install],
    conformance=Hl7v2Conformance(),
    raw_renderer=Hl7RawRenderer(),
)
