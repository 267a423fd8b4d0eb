"""X12 5010 as a protocol plug-in: fills :mod:`hub.protocols.contract` (ADR 0017).

Parts: the ingest adapter and receiver (:mod:`.receiver`: envelope peek, TA1/999 answers,
duplicate interchanges), the processors and splitters of :mod:`.processing` (the readers),
``POST /x12`` (:mod:`.http`), ``hub x12 ingest`` (:mod:`.ingest_cli`), the clearinghouse
folder listener run by ``hub serve`` (:mod:`.folder`) and the conformance driver
(:mod:`.conformance`). Outbound: ``hub practice``, ``hub partners`` and ``hub x12 claims|
eligibility|status`` (:mod:`.cli_out`), and a 270 when an appointment is booked (the outbox
subscriber of :func:`hub.services.x12_inquiries.eligibility_on_booking`, off unless
``HUB_X12_ELIGIBILITY_ON_BOOKING``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from hub.adapters.x12.tokenizer import Limits
from hub.pm.events import AppointmentBooked
from hub.protocols.contract import Core, ProtocolPlugin, ProtocolRuntime, SubscriberSpec
from hub.protocols.x12 import cli_out, http, ingest_cli, processing
from hub.protocols.x12.conformance import X12Conformance
from hub.protocols.x12.folder import PartnerFolders
from hub.protocols.x12.receiver import PROTOCOL, X12Intake, X12Receiver, answer_numbers
from hub.services.x12_inquiries import eligibility_on_booking
from hub.store.partners import list_partners


def partner_roots(core: Core) -> Callable[[], list[Path]]:
    """The folders of the trading partners added with their own ``--dir``."""

    def roots() -> list[Path]:
        with core.uow() as uow:
            return [Path(p.directory) for p in list_partners(uow.conn) if p.directory]

    return roots


def build(core: Core) -> ProtocolRuntime:
    receiver = X12Receiver(core, X12Intake(Limits()), answer_numbers(core))
    folders = PartnerFolders(
        core.settings.effective_clearinghouse_dir, receiver, partner_roots(core)
    )

    async def clearinghouse(stop: asyncio.Event) -> None:
        await folders.run(stop)

    return ProtocolRuntime(
        receiver=receiver,
        processors=processing.processor_specs(core),
        splitters=processing.splitter_specs(core),
        listeners=[clearinghouse],
        subscribers=[
            SubscriberSpec(
                "x12-270-on-booking", eligibility_on_booking(core.settings), AppointmentBooked
            )
        ],
    )


plugin = ProtocolPlugin(
    name=PROTOCOL,
    build=build,
    routers=[http.router],
    commands=[ingest_cli.install, cli_out.install],
    conformance=X12Conformance(),
)
