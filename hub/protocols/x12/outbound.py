"""The outbound half of the X12 plug-in: its CLI installer and its outbox subscriber.

:data:`COMMANDS` (``hub practice``, ``hub partners``, ``hub x12 claims|eligibility|status``) and
:func:`subscribers` (a 270 when an appointment is booked, if ``HUB_X12_ELIGIBILITY_ON_BOOKING``)
are what the X12 plug-in declares for outbound work.

:data:`plugin` is a stand-in registered until the X12 plug-in proper (inbound receiver,
processors) exists: it carries only these parts, and refuses inbound X12 with a clear error.
"""

from __future__ import annotations

from hub.config import Settings
from hub.errors import UnsupportedError
from hub.pm.events import AppointmentBooked
from hub.protocols.contract import (
    CommandInstaller,
    Core,
    ProtocolPlugin,
    ProtocolRuntime,
    SubscriberSpec,
)
from hub.protocols.x12 import cli_out
from hub.services.ingest import Inbound
from hub.services.origin import Origin
from hub.services.x12_inquiries import eligibility_on_booking

COMMANDS: tuple[CommandInstaller, ...] = (cli_out.install,)


def subscribers(settings: Settings) -> list[SubscriberSpec]:
    return [
        SubscriberSpec("x12-270-on-booking", eligibility_on_booking(settings), AppointmentBooked)
    ]


class _NoInbound:
    """Inbound X12 belongs to the X12 plug-in proper; until it is installed, say so."""

    def handle(self, raw: bytes, origin: Origin | None = None) -> bytes:
        raise UnsupportedError("inbound X12 is not installed", code="unsupported")

    def peek(self, raw: bytes) -> Inbound:
        raise UnsupportedError("inbound X12 is not installed", code="unsupported")


def build(core: Core) -> ProtocolRuntime:
    return ProtocolRuntime(receiver=_NoInbound(), subscribers=subscribers(core.settings))


plugin = ProtocolPlugin(name="x12-out", build=build, commands=COMMANDS)
